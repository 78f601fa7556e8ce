//! Starting `pix2pix-serve` for a test and talking to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub fn serve_binary() -> PathBuf {
    crate::built("pix2pix-serve")
}

/// A running `pix2pix-serve` on a free loopback port; killed when dropped.
pub struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServeProcess {
    /// Starts the server with `args` (plus `--port 0`) and waits for its
    /// "listening on" line.
    pub fn start(args: &[&str]) -> ServeProcess {
        let mut child = Command::new(serve_binary())
            .args(["--port", "0", "--threads", "1"])
            .args(args)
            .env_remove("LD_LIBRARY_PATH")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pix2pix-serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.split("listening on http://").nth(1) {
                        break url.trim_end_matches('/').parse().expect("an address");
                    }
                }
                _ => {
                    let status = child.wait().unwrap();
                    panic!("pix2pix-serve ended before listening: {status}");
                }
            }
        };
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        ServeProcess { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
