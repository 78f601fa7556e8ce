//! The pix2pix trainer and model tools behind the `pix2pix-train` command.
//! It does not link GStreamer, so it runs on headless GPU machines.

pub mod imageio;
pub mod progress;
pub mod tools;
