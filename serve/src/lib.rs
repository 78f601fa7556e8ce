//! `pix2pix-serve`: a single web page to draw a facade label map (or upload
//! any image) and see what a pix2pix generator makes of it, and the JSON/HTTP
//! API behind it.
//!
//! - `GET /` the page (its script and style are built into the binary);
//! - `GET /api/models` the loaded models: name, task, input size, channels;
//! - `POST /api/translate?model=NAME` a PNG or JPEG body → a PNG of the same size;
//! - `GET /healthz` liveness and queue figures.
//!
//! Models are loaded once at start and shared by all requests. Requests are
//! admitted into a bounded queue ([`queue::InferenceQueue`]); a full queue
//! answers `503` with `Retry-After` at once. The server reads no file after
//! start: its only files are the model files it was given.

pub mod models;
pub mod queue;

use std::io::{Cursor, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use image::{ImageFormat, ImageReader};
use pix2pix_model::image::{image_to_tensor, tensor_to_image, ImageRef, PixelLayout};
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, StatusCode};

pub use models::{Model, ModelSummary};
use queue::InferenceQueue;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const PRESETS_JS: &str = include_str!("../assets/presets.js");

/// Server settings (the command line's options).
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_upload: usize,
    /// Largest image accepted, in pixels (width x height).
    pub max_pixels: u64,
    /// Requests admitted at once (decoding, queued or running).
    pub queue: usize,
    /// Inference threads.
    pub workers: usize,
    /// Seconds a client told "busy" should wait before retrying.
    pub retry_after: u32,
    /// Log one line per request on stderr.
    pub access_log: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            addr: ([127, 0, 0, 1], 8080).into(),
            max_upload: 8 << 20,
            max_pixels: 4096 * 4096,
            queue: 8,
            workers: 1,
            retry_after: 1,
            access_log: true,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("no models to serve")]
    NoModels,
}

struct Shared {
    settings: Settings,
    models: Arc<Vec<Model>>,
    queue: InferenceQueue,
    started: Instant,
}

/// A running server; dropping it does not stop it, [`Server::shutdown`] does.
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds, starts the inference workers and the HTTP threads, and returns.
    pub fn start(settings: Settings, models: Vec<Model>) -> Result<Server, StartError> {
        if models.is_empty() {
            return Err(StartError::NoModels);
        }
        let http = tiny_http::Server::http(settings.addr).map_err(|e| StartError::Listen {
            addr: settings.addr,
            reason: e.to_string(),
        })?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| StartError::Listen {
                addr: settings.addr,
                reason: "not an IP socket".into(),
            })?;
        let http = Arc::new(http);
        let models = Arc::new(models);
        let queue = InferenceQueue::new(Arc::clone(&models), settings.queue, settings.workers);
        // More HTTP threads than queue places, so that a full queue still
        // leaves threads free to answer 503, the page and /healthz at once.
        let n_threads = settings.queue + 4;
        let shared = Arc::new(Shared {
            settings,
            models,
            queue,
            started: Instant::now(),
        });
        let threads = (0..n_threads)
            .map(|i| {
                let http = Arc::clone(&http);
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        while let Ok(request) = http.recv() {
                            handle(&shared, request);
                        }
                    })
                    .expect("spawn an HTTP thread")
            })
            .collect();
        Ok(Server {
            http,
            addr,
            threads,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends.
    pub fn join(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Stops accepting requests, lets the HTTP threads finish and returns.
    pub fn shutdown(mut self) {
        for _ in 0..self.threads.len() {
            self.http.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An answer that is not a success: a status and a message for the client.
#[derive(Debug)]
struct ApiError {
    status: u16,
    message: String,
    retry_after: Option<u32>,
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }
}

type Reply = Response<Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn bytes_reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", content_type))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Cache-Control", "no-store"))
}

fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    bytes_reply(status, "application/json", value.to_string().into_bytes())
}

fn error_reply(e: &ApiError) -> Reply {
    let mut body = json!({ "error": e.message, "status": e.status });
    let mut r = json_reply(e.status, &body);
    if let Some(s) = e.retry_after {
        body["retry_after"] = json!(s);
        r = json_reply(e.status, &body).with_header(header("Retry-After", &s.to_string()));
    }
    if let Some(allow) = e.allow {
        r = r.with_header(header("Allow", allow));
    }
    r
}

fn asset(content_type: &str, text: &str) -> Reply {
    bytes_reply(200, content_type, text.as_bytes().to_vec()).with_header(header(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'",
    ))
}

fn handle(shared: &Shared, mut request: Request) {
    let started = Instant::now();
    let method = request.method().clone();
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let result = route(shared, &method, path, query, &mut request);
    let (reply, note) = match result {
        Ok((r, note)) => (r, note),
        Err(e) => {
            let note = e.message.clone();
            (error_reply(&e), note)
        }
    };
    let status = reply.status_code().0;
    if shared.settings.access_log {
        eprintln!(
            "pix2pix-serve: {method} {url} {status} {:.1} ms{}{}",
            started.elapsed().as_secs_f64() * 1e3,
            if note.is_empty() { "" } else { ": " },
            note
        );
    }
    // A client that went away is not the server's problem.
    let _ = request.respond(reply);
}

fn method_not_allowed(allow: &'static str) -> ApiError {
    ApiError {
        allow: Some(allow),
        ..ApiError::new(405, format!("method not allowed here; use {allow}"))
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    request: &mut Request,
) -> Result<(Reply, String), ApiError> {
    let get_only = |r: Reply| {
        if *method == Method::Get || *method == Method::Head {
            Ok((r, String::new()))
        } else {
            Err(method_not_allowed("GET"))
        }
    };
    match path {
        "/" | "/index.html" => get_only(asset("text/html; charset=utf-8", INDEX_HTML)),
        "/app.js" => get_only(asset("text/javascript; charset=utf-8", APP_JS)),
        "/presets.js" => get_only(asset("text/javascript; charset=utf-8", PRESETS_JS)),
        "/style.css" => get_only(asset("text/css; charset=utf-8", STYLE_CSS)),
        "/healthz" => get_only(json_reply(200, &health(shared))),
        "/api/models" => get_only(json_reply(
            200,
            &json!({ "models": shared.models.iter().map(|m| &m.summary).collect::<Vec<_>>() }),
        )),
        "/api/translate" => {
            if *method != Method::Post {
                return Err(method_not_allowed("POST"));
            }
            translate(shared, query, request)
        }
        _ => Err(ApiError::new(404, format!("no such page or API: {path}"))),
    }
}

fn health(shared: &Shared) -> serde_json::Value {
    let c = &shared.queue.counters;
    json!({
        "status": "ok",
        "models": shared.models.len(),
        "uptime_s": shared.started.elapsed().as_secs(),
        "queue": { "pending": shared.queue.pending(), "capacity": shared.queue.capacity() },
        "translated": c.translated.load(Ordering::Relaxed),
        "rejected_busy": c.rejected_busy.load(Ordering::Relaxed),
        "failed": c.failed.load(Ordering::Relaxed),
        "inference_s": c.busy_micros.load(Ordering::Relaxed) as f64 / 1e6,
    })
}

/// `%XX` and `+` decoding of one query value.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| url_decode(v))
}

fn pick_model(shared: &Shared, query: &str) -> Result<usize, ApiError> {
    let names = || {
        shared
            .models
            .iter()
            .map(|m| m.summary.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match query_param(query, "model") {
        Some(name) => shared
            .models
            .iter()
            .position(|m| m.summary.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    format!("unknown model `{name}`; this server has: {}", names()),
                )
            }),
        None if shared.models.len() == 1 => Ok(0),
        None => Err(ApiError::new(
            400,
            format!("say which model: ?model=NAME, one of: {}", names()),
        )),
    }
}

fn read_body(shared: &Shared, request: &mut Request) -> Result<Vec<u8>, ApiError> {
    let max = shared.settings.max_upload;
    let too_large = |n: String| {
        ApiError::new(
            413,
            format!("the body is {n} bytes, more than the limit of {max} bytes (--max-upload)"),
        )
    };
    if let Some(n) = request.body_length() {
        if n > max {
            return Err(too_large(n.to_string()));
        }
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(max as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::new(400, format!("cannot read the request body: {e}")))?;
    if body.len() > max {
        return Err(too_large("over".into()));
    }
    if body.is_empty() {
        return Err(ApiError::new(
            400,
            "the body is empty: send a PNG or JPEG image",
        ));
    }
    Ok(body)
}

fn decode(shared: &Shared, body: &[u8]) -> Result<image::RgbImage, ApiError> {
    let not_image = || ApiError::new(415, "the body is not a PNG or JPEG image");
    let reader = ImageReader::new(Cursor::new(body))
        .with_guessed_format()
        .map_err(|_| not_image())?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        Some(other) => {
            return Err(ApiError::new(
                415,
                format!("{other:?} images are not accepted: send PNG or JPEG"),
            ))
        }
        None => return Err(not_image()),
    };
    let (w, h) = reader.into_dimensions().map_err(|e| {
        ApiError::new(
            400,
            format!("cannot read the {format:?} image's header: {e}"),
        )
    })?;
    let pixels = w as u64 * h as u64;
    let max = shared.settings.max_pixels;
    if pixels > max {
        return Err(ApiError::new(
            413,
            format!("the image is {w}x{h} = {pixels} pixels, more than the limit of {max} (--max-pixels)"),
        ));
    }
    if w == 0 || h == 0 {
        return Err(ApiError::new(400, "the image is empty"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(body), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(pixels * 16 + (64 << 20));
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ApiError::new(400, format!("cannot decode the {format:?} image: {e}")))?;
    Ok(img.to_rgb8())
}

fn translate(
    shared: &Shared,
    query: &str,
    request: &mut Request,
) -> Result<(Reply, String), ApiError> {
    let model = pick_model(shared, query)?;
    let ticket = shared.queue.admit().ok_or_else(|| {
        let s = shared.settings.retry_after;
        ApiError {
            retry_after: Some(s),
            ..ApiError::new(
                503,
                format!(
                    "busy: {} requests are already queued; retry in {s} s",
                    shared.queue.capacity()
                ),
            )
        }
    })?;
    let body = read_body(shared, request)?;
    let img = decode(shared, &body)?;
    let (w, h) = img.dimensions();
    let input = image_to_tensor(
        &ImageRef {
            data: img.as_raw(),
            width: w as usize,
            height: h as usize,
            stride: w as usize * 3,
            layout: PixelLayout::Rgb,
        },
        3,
    )
    .map_err(|e| ApiError::new(400, format!("cannot use the image: {e}")))?;
    let (output, took) = shared
        .queue
        .run(&ticket, model, input)
        .map_err(|e| ApiError::new(500, format!("inference failed: {e}")))?;
    drop(ticket);
    let png = encode_png(&output, w, h).map_err(|e| ApiError::new(500, e))?;
    let name = &shared.models[model].summary.name;
    let reply = bytes_reply(200, "image/png", png)
        .with_header(header("X-Pix2pix-Model", name))
        .with_header(header(
            "X-Inference-Ms",
            &format!("{:.1}", took.as_secs_f64() * 1e3),
        ));
    Ok((reply, format!("{name} {w}x{h}")))
}

fn encode_png(t: &pix2pix_model::tch::Tensor, w: u32, h: u32) -> Result<Vec<u8>, String> {
    let channels = t.size()[1];
    let (layout, color, bpp) = if channels == 1 {
        (PixelLayout::Gray8, image::ExtendedColorType::L8, 1)
    } else {
        (PixelLayout::Rgb, image::ExtendedColorType::Rgb8, 3)
    };
    let (wu, hu) = (w as usize, h as usize);
    let mut buf = vec![0u8; wu * hu * bpp];
    tensor_to_image(t, &mut buf, wu, hu, wu * bpp, layout)
        .map_err(|e| format!("cannot convert the result: {e}"))?;
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &buf,
        w,
        h,
        color,
    )
    .map_err(|e| format!("cannot encode the result as PNG: {e}"))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(
            query_param("model=facades_label2photo", "model").as_deref(),
            Some("facades_label2photo")
        );
        assert_eq!(
            query_param("a=1&model=x%2Ey", "model").as_deref(),
            Some("x.y")
        );
        assert_eq!(query_param("a=1", "model"), None);
        assert_eq!(url_decode("50%"), "50%");
        assert_eq!(url_decode("%4"), "%4");
        assert_eq!(url_decode("a+b%20c"), "a b c");
    }
}
