//! The drawing page in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over the W3C WebDriver protocol): draw on the
//! canvas with real pointer actions, render, and check that the result appears
//! and differs from the input. A screenshot is saved with the test output.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pix2pix_e2e::http::{base64_decode, request};
use pix2pix_e2e::serve::ServeProcess;
use pix2pix_e2e::{root, target_dir};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

impl Driver {
    fn start() -> Driver {
        for p in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(p).exists(),
                "{p} missing: `./run test` installs Debian's chromium and chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t0 = Instant::now();
        loop {
            if let Ok(r) = request(addr, "GET", "/status", &[], b"") {
                if r.status == 200 && r.json()["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not get ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100"]
            }
        }}});
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"].as_str().expect("a session").to_string();
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let r = request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("chromedriver answers");
        let v = r.json();
        assert_eq!(r.status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|x| x.as_str())
            .expect("an element reference")
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// A mouse drag on the canvas between two of its 256x256 pixels, whatever
    /// size the page shows it at (WebDriver offsets are from the element's centre).
    fn drag_px(&self, from: (i64, i64), to: (i64, i64)) {
        let shown = self
            .js("return document.getElementById('canvas').clientWidth;")
            .as_f64()
            .unwrap();
        let off = |p: i64| (((p as f64 + 0.5) / 256.0 - 0.5) * shown).round() as i64;
        self.drag(
            "#canvas",
            (off(from.0), off(from.1)),
            (off(to.0), off(to.1)),
        );
    }

    /// A mouse drag on `css` from one point to another, offsets from its centre.
    fn drag(&self, css: &str, from: (i64, i64), to: (i64, i64)) {
        let id = self.element(css);
        let origin = json!({ "element-6066-11e4-a52e-4f735466cecf": id });
        let actions = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "origin": origin, "x": from.0, "y": from.1},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "duration": 120, "origin": origin, "x": (from.0 + to.0) / 2, "y": (from.1 + to.1) / 2},
                {"type": "pointerMove", "duration": 120, "origin": origin, "x": to.0, "y": to.1},
                {"type": "pointerUp", "button": 0}
            ]
        }]});
        self.call("POST", &self.s("/actions"), Some(actions));
    }

    fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script);
            if !v.is_null() && v != false {
                return v;
            }
            assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, out: &Path) {
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        std::fs::write(out, base64_decode(b64.as_str().unwrap())).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(self.addr, "DELETE", &self.s(""), &[], b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The canvas pixel at (x, y) as [r, g, b].
fn canvas_pixel(d: &Driver, x: u32, y: u32) -> Vec<u64> {
    d.js(&format!(
        "return Array.from(document.getElementById('canvas').getContext('2d')\
         .getImageData({x}, {y}, 1, 1).data.slice(0, 3));"
    ))
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_u64().unwrap())
    .collect()
}

#[test]
fn draw_render_and_see_the_photo_in_chromium() {
    let server = ServeProcess::start(&[
        "--weights",
        &root().join("weights").to_string_lossy(),
        "--quiet",
    ]);
    let d = Driver::start();
    d.goto(&server.url("/"));
    // The model list arrives and a label → photo model is chosen.
    let model = d.wait_for(
        "the model list",
        "const s = document.getElementById('model'); return s.options.length > 0 ? s.value : null;",
        Duration::from_secs(20),
    );
    assert_eq!(model, "facades_label2photo");
    let legend =
        d.js("return Array.from(document.querySelectorAll('.swatch')).map(b => b.textContent);");
    assert_eq!(legend.as_array().unwrap().len(), 12, "{legend}");

    // Start from a blank facade, then draw with the mouse.
    d.click("#clear");
    assert_eq!(
        canvas_pixel(&d, 128, 128),
        vec![0, 0, 255],
        "cleared to the facade colour"
    );
    d.click(".swatch[data-label=window]");
    d.drag_px((20, 20), (85, 85)); // a window, top left
    d.drag_px((150, 20), (215, 85)); // another, top right
    d.click(".swatch[data-label=shop]");
    d.drag_px((2, 200), (253, 253)); // a shop front along the bottom
    d.click("input[name=tool][value=brush]");
    d.click(".swatch[data-label=molding]");
    d.drag_px((2, 141), (253, 141)); // a molding stroke
    assert_eq!(canvas_pixel(&d, 45, 45), vec![0, 85, 255], "window drawn");
    assert_eq!(canvas_pixel(&d, 200, 45), vec![0, 85, 255], "window drawn");
    assert_eq!(canvas_pixel(&d, 128, 220), vec![170, 0, 0], "shop drawn");
    assert_eq!(
        canvas_pixel(&d, 128, 141),
        vec![255, 85, 0],
        "molding stroke drawn"
    );
    assert_eq!(
        canvas_pixel(&d, 128, 100),
        vec![0, 0, 255],
        "facade left alone"
    );
    // Undo takes the stroke back.
    d.click("#undo");
    assert_eq!(
        canvas_pixel(&d, 128, 141),
        vec![0, 0, 255],
        "undo removed the stroke"
    );

    d.click("#render");
    d.wait_for(
        "the rendered result",
        "const i = document.getElementById('result'); \
         return !i.hidden && i.complete && i.naturalWidth > 0 ? i.naturalWidth : null;",
        Duration::from_secs(60),
    );
    // Compare the result with the input pixel by pixel in the page.
    let stats = d.js(
        "const i = document.getElementById('result'); \
         const c = document.createElement('canvas'); c.width = 256; c.height = 256; \
         const x = c.getContext('2d'); x.drawImage(i, 0, 0, 256, 256); \
         const out = x.getImageData(0, 0, 256, 256).data; \
         const inp = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 256, 256).data; \
         let diff = 0, sat = 0; \
         for (let k = 0; k < out.length; k += 4) { \
           diff += Math.abs(out[k] - inp[k]) + Math.abs(out[k+1] - inp[k+1]) + Math.abs(out[k+2] - inp[k+2]); \
           const mx = Math.max(out[k], out[k+1], out[k+2]), mn = Math.min(out[k], out[k+1], out[k+2]); \
           sat += mx > 0 ? (mx - mn) / mx : 0; } \
         return { width: i.naturalWidth, height: i.naturalHeight, \
                  diff: diff / (3 * 65536), sat: sat / 65536, \
                  history: document.querySelectorAll('#history .history-item').length, \
                  status: document.getElementById('status').textContent, \
                  download: document.getElementById('download').getAttribute('download') };",
    );
    assert_eq!(stats["width"], 256, "{stats}");
    assert_eq!(stats["height"], 256, "{stats}");
    assert!(
        stats["diff"].as_f64().unwrap() > 30.0,
        "result too close to the input: {stats}"
    );
    assert!(
        stats["sat"].as_f64().unwrap() < 0.6,
        "result looks like a label map: {stats}"
    );
    assert_eq!(stats["history"], 1, "{stats}");
    assert!(
        stats["status"]
            .as_str()
            .unwrap()
            .starts_with("Rendered by facades_label2photo"),
        "{stats}"
    );
    assert_eq!(
        stats["download"], "pix2pix-facades_label2photo-1.png",
        "{stats}"
    );

    // A preset, a second render, and reopening the first from the history.
    d.js("Array.from(document.querySelectorAll('#presets button')).find(b => b.textContent === 'Town house').click();");
    d.click("#render");
    d.wait_for(
        "the second render",
        "return document.querySelectorAll('#history .history-item').length === 2 ? true : null;",
        Duration::from_secs(60),
    );
    d.click("#history .history-item:last-child");
    d.wait_for(
        "the first render reopened",
        "return document.getElementById('result').dataset.render === '1' ? true : null;",
        Duration::from_secs(10),
    );
    assert_eq!(
        canvas_pixel(&d, 45, 45),
        vec![0, 85, 255],
        "first input back on the canvas"
    );
    // And the second one (the preset) again, for the screenshot.
    d.click("#history .history-item:first-child");
    d.wait_for(
        "the second render reopened",
        "return document.getElementById('result').dataset.render === '2' ? true : null;",
        Duration::from_secs(10),
    );

    let out = target_dir().join("test-output");
    std::fs::create_dir_all(&out).unwrap();
    let shot = out.join("serve-page.png");
    d.js("window.scrollTo(0, 0);");
    d.screenshot(&shot);
    let png = image::open(&shot).expect("a PNG screenshot");
    assert!(png.width() >= 1000, "{}", png.width());
    eprintln!("screenshot: {}", shot.display());
}
