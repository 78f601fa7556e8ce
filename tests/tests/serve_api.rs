//! `pix2pix-serve` over real HTTP on loopback: the model list, a label map
//! translated by the shipped facades model, every kind of bad input answered
//! with its status, and 200 concurrent requests against a small queue.

use std::io::Cursor;

use pix2pix_e2e::http::{request, HttpResponse};
use pix2pix_e2e::serve::ServeProcess;
use pix2pix_e2e::{root, small_model, tmpdir};

const FACADES: &str = "facades_label2photo";

fn weights() -> String {
    root().join("weights").to_string_lossy().into_owned()
}

fn labels_png() -> Vec<u8> {
    std::fs::read(root().join("tests/data/facade_labels.png")).unwrap()
}

fn post(s: &ServeProcess, path: &str, ctype: &str, body: &[u8]) -> HttpResponse {
    request(s.addr, "POST", path, &[("Content-Type", ctype)], body).expect("an HTTP answer")
}

fn get(s: &ServeProcess, path: &str) -> HttpResponse {
    request(s.addr, "GET", path, &[], b"").expect("an HTTP answer")
}

/// Mean HSV-style saturation (max - min) / max over the pixels, in 0..1.
fn saturation(img: &image::RgbImage) -> f64 {
    let s: f64 = img
        .pixels()
        .map(|p| {
            let mx = *p.0.iter().max().unwrap() as f64;
            let mn = *p.0.iter().min().unwrap() as f64;
            if mx > 0.0 {
                (mx - mn) / mx
            } else {
                0.0
            }
        })
        .sum();
    s / (img.width() * img.height()) as f64
}

fn assert_json_error(r: &HttpResponse, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains(needle),
        "error message `{msg}` should mention `{needle}`"
    );
}

#[test]
fn models_are_listed_and_a_label_map_becomes_a_photo() {
    let s = ServeProcess::start(&["--weights", &weights(), "--quiet"]);
    let health = get(&s, "/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let models = get(&s, "/api/models");
    assert_eq!(models.status, 200, "{}", models.text());
    let list = models.json()["models"].as_array().unwrap().clone();
    let names: Vec<&str> = list.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"colorize"), "{names:?}");
    assert!(names.contains(&FACADES), "{names:?}");
    let facades = list.iter().find(|m| m["name"] == FACADES).unwrap();
    assert_eq!(facades["task"], "label2photo");
    assert_eq!(facades["input_size"], 256);
    assert_eq!(facades["input_channels"], 3);

    let input = labels_png();
    let r = post(
        &s,
        &format!("/api/translate?model={FACADES}"),
        "image/png",
        &input,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    assert_eq!(r.header("X-Pix2pix-Model"), Some(FACADES));
    assert!(r.header("X-Inference-Ms").unwrap().parse::<f64>().unwrap() > 0.0);
    let out = image::load_from_memory(&r.body).unwrap().to_rgb8();
    let inp = image::load_from_memory(&input).unwrap().to_rgb8();
    assert_eq!(out.dimensions(), inp.dimensions());
    // A photo of a building is far less saturated than the jet-coloured label map.
    let (si, so) = (saturation(&inp), saturation(&out));
    assert!(
        so < 0.6 * si,
        "output saturation {so:.3} vs label map {si:.3}"
    );
    std::fs::write(tmpdir("serve-api").join("facade.png"), &r.body).unwrap();

    // JPEG bodies work too, at any size: the result has the input's size.
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::imageops::resize(
        &inp,
        300,
        200,
        image::imageops::FilterType::Nearest,
    ))
    .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
    .unwrap();
    let r = post(&s, "/api/translate?model=colorize", "image/jpeg", &jpeg);
    assert_eq!(r.status, 200, "{}", r.text());
    let out = image::load_from_memory(&r.body).unwrap();
    assert_eq!((out.width(), out.height()), (300, 200));

    // The page and its parts are served.
    let page = get(&s, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<canvas id=\"canvas\""));
    for asset in ["/app.js", "/presets.js", "/style.css"] {
        assert_eq!(get(&s, asset).status, 200, "{asset}");
    }
    let health = get(&s, "/healthz").json();
    assert_eq!(health["translated"], 2, "{health}");
}

#[test]
fn bad_input_is_answered_and_the_server_keeps_serving() {
    let dir = tmpdir("serve-bad");
    let a = small_model(&dir, "tiny", &[]);
    let b = small_model(&dir, "other", &["--input-nc", "1"]);
    let s = ServeProcess::start(&[
        "--model",
        &a.to_string_lossy(),
        "--model",
        &format!("second={}", b.display()),
        "--max-upload",
        "64K",
        "--max-pixels",
        "100000",
        "--quiet",
    ]);
    let labels = labels_png();

    assert_json_error(
        &post(
            &s,
            "/api/translate?model=tiny",
            "image/png",
            b"hello, not an image",
        ),
        415,
        "not a PNG or JPEG",
    );
    assert_json_error(
        &post(
            &s,
            "/api/translate?model=tiny",
            "image/gif",
            b"GIF89a\x08\x00\x08\x00\x00\x00\x00;",
        ),
        415,
        "Gif",
    );
    assert_json_error(
        &post(
            &s,
            "/api/translate?model=tiny",
            "image/png",
            &labels[..labels.len() / 2],
        ),
        400,
        "cannot decode",
    );
    assert_json_error(
        &post(&s, "/api/translate?model=tiny", "image/png", b""),
        400,
        "empty",
    );
    assert_json_error(
        &post(
            &s,
            "/api/translate?model=tiny",
            "image/png",
            &vec![7u8; 200_000],
        ),
        413,
        "--max-upload",
    );
    // 400x400 = 160000 pixels > 100000, in a small (flat) PNG.
    let mut big = Vec::new();
    image::DynamicImage::new_rgb8(400, 400)
        .write_to(&mut Cursor::new(&mut big), image::ImageFormat::Png)
        .unwrap();
    assert!(big.len() < 64 << 10);
    assert_json_error(
        &post(&s, "/api/translate?model=tiny", "image/png", &big),
        413,
        "--max-pixels",
    );
    assert_json_error(
        &post(&s, "/api/translate?model=nope", "image/png", &labels),
        404,
        "unknown model `nope`",
    );
    assert_json_error(
        &post(&s, "/api/translate", "image/png", &labels),
        400,
        "?model=NAME",
    );
    let r = get(&s, "/api/translate?model=tiny");
    assert_json_error(&r, 405, "POST");
    assert_eq!(r.header("Allow"), Some("POST"));
    assert_json_error(&get(&s, "/etc/passwd"), 404, "no such page");
    assert_json_error(
        &get(&s, "/../weights/colorize.safetensors"),
        404,
        "no such page",
    );

    // Still serving, with both models.
    let r = post(&s, "/api/translate?model=second", "image/png", &labels);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(&s, "/api/translate?model=tiny", "image/png", &labels);
    assert_eq!(r.status, 200, "{}", r.text());
    let h = get(&s, "/healthz").json();
    assert_eq!(h["translated"], 2, "{h}");
    assert_eq!(h["failed"], 0, "{h}");
}

#[test]
fn a_full_queue_answers_503_and_nothing_piles_up() {
    let s = ServeProcess::start(&[
        "--model",
        &root()
            .join(format!("weights/{FACADES}.safetensors"))
            .to_string_lossy(),
        "--queue",
        "2",
        "--quiet",
    ]);
    let labels = std::sync::Arc::new(labels_png());
    let addr = s.addr;
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let labels = std::sync::Arc::clone(&labels);
            std::thread::spawn(move || {
                request(
                    addr,
                    "POST",
                    "/api/translate",
                    &[("Content-Type", "image/png")],
                    &labels,
                )
            })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in threads {
        let r = t
            .join()
            .unwrap()
            .expect("every request gets an HTTP answer");
        match r.status {
            200 => {
                assert!(image::load_from_memory(&r.body).is_ok());
                ok += 1;
            }
            503 => {
                assert_eq!(r.header("Retry-After"), Some("1"));
                assert!(r.json()["error"].as_str().unwrap().contains("busy"));
                assert_eq!(r.json()["retry_after"], 1);
                busy += 1;
            }
            other => panic!("unexpected status {other}: {}", r.text()),
        }
    }
    eprintln!("200 concurrent requests, queue 2: {ok} translated, {busy} answered 503");
    assert_eq!(ok + busy, 200);
    assert!(ok >= 2, "{ok} answered, {busy} busy");
    assert!(
        busy >= 100,
        "{ok} answered, {busy} busy: the queue did not bound the work"
    );
    let mut s = s;
    assert!(s.alive());
    let h = get(&s, "/healthz").json();
    assert_eq!(h["translated"], ok, "{h}");
    assert_eq!(h["rejected_busy"], busy, "{h}");
    assert_eq!(h["queue"]["pending"], 0, "{h}");
    // And it still translates.
    let r = post(&s, "/api/translate", "image/png", &labels);
    assert_eq!(r.status, 200);
}

#[test]
fn bad_model_files_stop_the_start_with_a_clear_message() {
    let dir = tmpdir("serve-badmodel");
    let broken = dir.join("broken.safetensors");
    std::fs::write(&broken, b"this is not a model").unwrap();
    let o = std::process::Command::new(pix2pix_e2e::serve::serve_binary())
        .args(["--port", "0", "--model"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken") && err.contains("cannot load model"),
        "{err}"
    );

    let empty = tmpdir("serve-empty");
    let o = std::process::Command::new(pix2pix_e2e::serve::serve_binary())
        .args(["--port", "0", "--weights"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no model files"), "{err}");
}
