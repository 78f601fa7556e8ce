//! `pix2pix-serve`: draw a label map in the browser and see the photo.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use pix2pix_model::runtime;
use pix2pix_serve::{models, Server, Settings};

#[derive(Parser)]
#[command(
    name = "pix2pix-serve",
    version,
    about = "Serve a web page to draw a label map (or upload an image) and see the pix2pix translation, and its JSON/HTTP API",
    after_help = "API:\n  GET  /api/models                 the models: name, task, input size, channels\n  \
                  POST /api/translate?model=NAME   a PNG or JPEG body -> PNG of the same size\n  \
                  GET  /healthz                    liveness and queue figures\n\n\
                  Example:\n  pix2pix-serve --weights weights/\n  \
                  curl --data-binary @labels.png -H 'Content-Type: image/png' \\\n    \
                  'http://127.0.0.1:8080/api/translate?model=facades_label2photo' -o photo.png"
)]
struct Cli {
    /// Address to listen on. The default serves this machine only; 0.0.0.0
    /// serves the network (there is no authentication).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Folder whose *.safetensors model files are served, each named after its
    /// file (default: the installed or in-repository `weights/` folder).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A model file to serve, as PATH or NAME=PATH; repeat for several.
    /// When given, only these are served (not the weights folder).
    #[arg(long = "model", value_name = "[NAME=]PATH")]
    models: Vec<String>,
    /// Largest request body, e.g. 8M, 512K or 100000 (bytes).
    #[arg(long, default_value = "8M", value_parser = parse_size)]
    max_upload: usize,
    /// Largest image, in pixels (width x height).
    #[arg(long, default_value_t = 4096 * 4096)]
    max_pixels: u64,
    /// Requests admitted at once (being decoded, queued or running); more get
    /// 503 with a Retry-After hint.
    #[arg(long, default_value_t = 8)]
    queue: usize,
    /// Inference threads (each runs one request at a time).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// libtorch intra-op threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// No access log on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1usize << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 8M, 512K or 100000"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

/// The weights folder: `PIX2PIX_WEIGHTS`, then the installed
/// `<prefix>/share/pix2pix-gst/weights`, then the repository's `weights/`
/// (for a binary under `target/<profile>/`).
fn default_weights() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PIX2PIX_WEIGHTS") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?;
    [
        bin.join("../share/pix2pix-gst/weights"),
        bin.join("../../weights"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .and_then(|p| p.canonicalize().ok())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    runtime::tune_allocator();
    if cli.threads > 0 {
        runtime::set_threads(cli.threads);
    }
    let device = runtime::parse_device(&cli.device).context("--device")?;
    let list = if cli.models.is_empty() {
        let dir = match &cli.weights {
            Some(d) => d.clone(),
            None => default_weights().context(
                "no weights folder found: give one with --weights DIR or model files with --model",
            )?,
        };
        models::models_in(&dir)?
    } else {
        if cli.weights.is_some() {
            bail!("give either --weights or --model, not both");
        }
        cli.models
            .iter()
            .map(|m| models::parse_model_arg(m))
            .collect()
    };
    let loaded = models::load_all(&list, device)?;
    let settings = Settings {
        addr: SocketAddr::new(cli.bind, cli.port),
        max_upload: cli.max_upload,
        max_pixels: cli.max_pixels,
        queue: cli.queue,
        workers: cli.workers,
        access_log: !cli.quiet,
        ..Settings::default()
    };
    let names: Vec<String> = loaded
        .iter()
        .map(|m| format!("{} ({})", m.summary.name, m.summary.task))
        .collect();
    let server = Server::start(settings, loaded)?;
    let addr = server.addr();
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "pix2pix-serve: models {}", names.join(", "))?;
    writeln!(
        out,
        "pix2pix-serve: listening on http://{host}:{}/",
        addr.port()
    )?;
    out.flush()?;
    drop(out);
    server.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("100000"), Ok(100000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
