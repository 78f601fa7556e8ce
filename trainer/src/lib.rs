//! The pix2pix trainer and model tools behind the `pix2pix-train` command.
//! It does not link GStreamer, so it runs on headless GPU machines.
//!
//! - [`data`]: datasets (aligned, paired folders, photos → colorize/edges), worker threads.
//! - [`train`]: the fused-loss cGAN loop, checkpoints, samples, report.
//! - [`metrics`]: L1, PSNR, SSIM.
//! - [`tools`]: init, import, translate.

pub mod adam;
pub mod data;
pub mod imageio;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod tools;
pub mod train;
