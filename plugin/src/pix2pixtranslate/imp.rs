//! The GObject side of `pix2pixtranslate`. Tensor work lives in
//! `pix2pix_model::translate`; this file maps frames, caps, properties and
//! errors onto GStreamer conventions.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use pix2pix_model::image::{image_to_tensor, tensor_to_image, ImageRef, PixelLayout};
use pix2pix_model::tch::Tensor;
use pix2pix_model::{runtime, tch, Mode, TranslateOptions, Translator};

use super::{InferenceMode, Precision, ResizeMode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pix2pixtranslate",
        gst::DebugColorFlags::empty(),
        Some("pix2pix image-to-image translation"),
    )
});

const DEFAULT_MODEL_LOCATION: Option<&str> = None;
const DEFAULT_DEVICE: &str = "cpu";
const DEFAULT_PRECISION: Precision = Precision::Fp32;
const DEFAULT_RESIZE_MODE: ResizeMode = ResizeMode::Stretch;
const DEFAULT_INFERENCE_MODE: InferenceMode = InferenceMode::Eval;
const DEFAULT_SEED: u64 = 0;
const DEFAULT_PRESERVE_LUMA: bool = false;
const DEFAULT_MIX: f64 = 1.0;
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_TILE_OVERLAP: f64 = 0.25;
const DEFAULT_PIPELINED: bool = true;

/// Formats with three colour channels, in order of preference.
const RGB_FORMATS: [gst_video::VideoFormat; 10] = [
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Xrgb,
    gst_video::VideoFormat::Xbgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Argb,
    gst_video::VideoFormat::Abgr,
];

fn layout_of(format: gst_video::VideoFormat) -> Option<PixelLayout> {
    use gst_video::VideoFormat as F;
    Some(match format {
        F::Rgb => PixelLayout::Rgb,
        F::Bgr => PixelLayout::Bgr,
        F::Rgbx => PixelLayout::Rgbx,
        F::Bgrx => PixelLayout::Bgrx,
        F::Xrgb => PixelLayout::Xrgb,
        F::Xbgr => PixelLayout::Xbgr,
        F::Rgba => PixelLayout::Rgba,
        F::Bgra => PixelLayout::Bgra,
        F::Argb => PixelLayout::Argb,
        F::Abgr => PixelLayout::Abgr,
        F::Gray8 => PixelLayout::Gray8,
        _ => return None,
    })
}

fn all_formats() -> Vec<gst_video::VideoFormat> {
    let mut v = RGB_FORMATS.to_vec();
    v.push(gst_video::VideoFormat::Gray8);
    v
}

fn formats_for_channels(channels: Option<i64>) -> Vec<gst_video::VideoFormat> {
    match channels {
        Some(1) => vec![gst_video::VideoFormat::Gray8],
        Some(_) => RGB_FORMATS.to_vec(),
        None => all_formats(),
    }
}

#[derive(Debug, Clone)]
struct Settings {
    model_location: Option<String>,
    device: String,
    precision: Precision,
    resize_mode: ResizeMode,
    inference_mode: InferenceMode,
    seed: u64,
    preserve_luma: bool,
    mix: f64,
    threads: u32,
    tile_overlap: f64,
    pipelined: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_location: DEFAULT_MODEL_LOCATION.map(String::from),
            device: DEFAULT_DEVICE.into(),
            precision: DEFAULT_PRECISION,
            resize_mode: DEFAULT_RESIZE_MODE,
            inference_mode: DEFAULT_INFERENCE_MODE,
            seed: DEFAULT_SEED,
            preserve_luma: DEFAULT_PRESERVE_LUMA,
            mix: DEFAULT_MIX,
            threads: DEFAULT_THREADS,
            tile_overlap: DEFAULT_TILE_OVERLAP,
            pipelined: DEFAULT_PIPELINED,
        }
    }
}

impl Settings {
    fn options(&self) -> TranslateOptions {
        TranslateOptions {
            resize: match self.resize_mode {
                ResizeMode::Stretch => pix2pix_model::ResizeMode::Stretch,
                ResizeMode::Letterbox => pix2pix_model::ResizeMode::Letterbox,
                ResizeMode::Pad => pix2pix_model::ResizeMode::Pad,
                ResizeMode::Tile => pix2pix_model::ResizeMode::Tile,
            },
            mode: match self.inference_mode {
                InferenceMode::Eval => Mode::Eval,
                InferenceMode::Paper => Mode::Paper,
            },
            preserve_luma: self.preserve_luma,
            mix: self.mix as f32,
            tile_overlap: self.tile_overlap,
        }
    }

    fn precision(&self) -> pix2pix_model::Precision {
        match self.precision {
            Precision::Fp32 => pix2pix_model::Precision::F32,
            Precision::Fp16 => pix2pix_model::Precision::F16,
            Precision::Bf16 => pix2pix_model::Precision::BF16,
        }
    }
}

/// Negotiated video formats.
#[derive(Debug, Clone)]
struct Formats {
    in_layout: PixelLayout,
    out_layout: PixelLayout,
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
}

/// What the inference thread sends back for one frame.
type Reply = Result<(Tensor, Duration), String>;

/// A frame handed to the inference thread, waiting to be written out.
struct InFlight {
    inbuf: gst::Buffer,
    formats: Formats,
    reply: Receiver<Reply>,
}

struct Job {
    translator: Arc<Translator>,
    input: Tensor,
    options: TranslateOptions,
    reply: SyncSender<Reply>,
}

/// Created in `start`, dropped in `stop`.
struct State {
    translator: Arc<Translator>,
    /// Whether this translator's packing failure (if any) is in the log yet.
    packing_warned: bool,
    formats: Option<Formats>,
    /// Frames in order of arrival whose translation runs or is done.
    in_flight: VecDeque<InFlight>,
    /// The inference thread: it runs the model on frame N while the streaming
    /// thread converts frame N+1 and writes frame N-1 out.
    jobs: Option<Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for State {
    /// Closes the job queue and waits for the inference thread, so no libtorch
    /// work outlives the element (a process exiting under it would crash).
    fn drop(&mut self) {
        self.in_flight.clear();
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn spawn_inference_thread(threads: usize) -> (Sender<Job>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let handle = std::thread::Builder::new()
        .name("pix2pix-infer".into())
        .spawn(move || {
            runtime::set_threads(threads);
            for job in rx {
                let started = Instant::now();
                let r = job
                    .translator
                    .translate(&job.input, &job.options)
                    .map(|t| (t, started.elapsed()))
                    .map_err(|e| e.to_string());
                // The frame may have been flushed meanwhile: nobody listens then.
                let _ = job.reply.send(r);
            }
        })
        .expect("spawn inference thread");
    (tx, handle)
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    frames: u64,
    last: Duration,
    total: Duration,
}

impl Stats {
    fn mean(&self) -> Duration {
        if self.frames == 0 {
            Duration::ZERO
        } else {
            self.total / self.frames as u32
        }
    }
}

/// A model loaded in the background, waiting to be swapped in between frames,
/// with the run (start..stop) it was loaded for.
#[derive(Default)]
struct PendingModel {
    /// Bumped at every start and stop: a load that finishes in a later run
    /// than the one it began in is dropped, not swapped in.
    run: u64,
    model: Option<Translator>,
}

type Pending = Arc<Mutex<PendingModel>>;

#[derive(Default)]
pub struct Pix2PixTranslate {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    stats: Mutex<Stats>,
    pending: Pending,
    /// Background model loads still running; joined at stop.
    loaders: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Pix2PixTranslate {
    /// Forgets any model loaded for the previous run and starts a new one.
    fn new_run(&self) {
        let mut p = self.pending.lock().unwrap();
        p.run += 1;
        p.model = None;
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Pix2PixTranslate {
    const NAME: &'static str = "GstPix2PixTranslate";
    type Type = super::Pix2PixTranslate;
    type ParentType = gst_video::VideoFilter;
}

/// Why a model could not be made ready, with the GStreamer error kind to report.
struct LoadError {
    kind: gst::ResourceError,
    message: String,
}

impl LoadError {
    fn to_error_msg(&self) -> gst::ErrorMessage {
        gst::error_msg!(self.kind, ("{}", self.message))
    }
}

fn load_translator(settings: &Settings) -> Result<Translator, LoadError> {
    let location = settings
        .model_location
        .as_deref()
        .ok_or_else(|| LoadError {
            kind: gst::ResourceError::NotFound,
            message: "No model: set the `model-location` property to a model file".into(),
        })?;
    let device = runtime::parse_device(&settings.device).map_err(|e| LoadError {
        kind: gst::ResourceError::Settings,
        message: e.to_string(),
    })?;
    let (generator, info) =
        pix2pix_model::load_any_generator(std::path::Path::new(location), tch::Device::Cpu)
            .map_err(|e| LoadError {
                kind: match e {
                    pix2pix_model::Error::Io { .. } => gst::ResourceError::OpenRead,
                    _ => gst::ResourceError::Read,
                },
                message: format!("Cannot load model: {e}"),
            })?;
    Translator::new(generator, info, device, settings.precision()).map_err(|e| LoadError {
        kind: gst::ResourceError::Settings,
        message: e.to_string(),
    })
}

impl Pix2PixTranslate {
    /// Posts a warning to the debug log, once per translator (`warned`), when
    /// its oneDNN weight packing failed and a slower path runs.
    fn warn_packing_failure(&self, translator: &Translator, warned: &mut bool) {
        if *warned {
            return;
        }
        if let Some(why) = translator.packing_failure() {
            *warned = true;
            gst::warning!(
                CAT,
                imp = self,
                "oneDNN weight packing failed, inference runs slower: {}",
                why
            );
        }
    }

    /// Loads the model named by `model-location` in a background thread while
    /// the element runs; it is swapped in between two frames. On failure the
    /// running model stays and a warning is posted.
    fn load_in_background(&self) {
        let settings = self.settings.lock().unwrap().clone();
        let pending = self.pending.clone();
        let run = pending.lock().unwrap().run;
        let element = self.obj().downgrade();
        let out_channels = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.translator.output_channels());
        let spawned = std::thread::Builder::new()
            .name("pix2pix-loader".into())
            .spawn(move || {
                let result = load_translator(&settings);
                let Some(element) = element.upgrade() else {
                    return;
                };
                match result {
                    Ok(t) if out_channels.is_some_and(|c| c != t.output_channels()) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Settings,
                            ("Not switching model: {} has {} output channels, the running model {}",
                             settings.model_location.as_deref().unwrap_or(""),
                             t.output_channels(),
                             out_channels.unwrap_or(0))
                        );
                    }
                    Ok(t) => {
                        gst::info!(
                            CAT,
                            obj = element,
                            "loaded {} in the background, swapping in at the next frame",
                            t.info().generator.describe()
                        );
                        let mut p = pending.lock().unwrap();
                        if p.run == run {
                            p.model = Some(t);
                        }
                    }
                    Err(e) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Read,
                            ("Keeping the current model: {}", e.message)
                        );
                    }
                }
            });
        match spawned {
            Ok(handle) => {
                let mut loaders = self.loaders.lock().unwrap();
                loaders.retain(|h| !h.is_finished());
                loaders.push(handle);
            }
            Err(e) => gst::element_imp_warning!(
                self,
                gst::ResourceError::Settings,
                ("Keeping the current model: cannot start a loader thread: {e}")
            ),
        }
    }
}

impl ObjectImpl for Pix2PixTranslate {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model-location")
                    .nick("Model location")
                    .blurb(
                        "Model file: a self-describing pix2pix-gst .safetensors file, or an \
                            official PyTorch pix2pix generator checkpoint (latest_net_G.pth). \
                            Set while PLAYING to load a new model in the background and swap it \
                            in between two frames; if it fails to load, the old model keeps \
                            running and a warning is posted",
                    )
                    .default_value(DEFAULT_MODEL_LOCATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb(
                        "Where inference runs: cpu, cuda or cuda:N. CUDA asked for but absent \
                            is an error at start, never a silent fallback",
                    )
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", DEFAULT_PRECISION)
                    .nick("Precision")
                    .blurb(
                        "Arithmetic precision; fp16/bf16 only where the device supports them \
                            (checked at start)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("resize-mode", DEFAULT_RESIZE_MODE)
                    .nick("Resize mode")
                    .blurb("How frames of any size are fitted to the network")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("inference-mode", DEFAULT_INFERENCE_MODE)
                    .nick("Inference mode")
                    .blurb(
                        "eval: deterministic, the right choice for video; paper: batch \
                            statistics and dropout as in the original test-time setting",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Random seed for inference-mode=paper (dropout), applied at start")
                    .default_value(DEFAULT_SEED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("preserve-luma")
                    .nick("Preserve luma")
                    .blurb(
                        "Keep the input's luminance at full resolution and take only the \
                            colour from the model (colorization: sharp output from a 256x256 \
                            model)",
                    )
                    .default_value(DEFAULT_PRESERVE_LUMA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("mix")
                    .nick("Mix")
                    .blurb("Blend of translation and input: 1 = translation only, 0 = input only")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb(
                        "libtorch intra-op threads, 0 = all cores. Process-wide: it applies \
                            to every libtorch user in the process; set at start",
                    )
                    .maximum(1024)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("tile-overlap")
                    .nick("Tile overlap")
                    .blurb("Overlap between tiles in resize-mode=tile, as a fraction of the tile")
                    .minimum(0.0)
                    .maximum(0.75)
                    .default_value(DEFAULT_TILE_OVERLAP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("pipelined")
                    .nick("Pipelined")
                    .blurb(
                        "Run the model on frame N in its own thread while frame N+1 is \
                            converted and frame N-1 is pushed downstream (output order is \
                            input order; EOS drains, a flush discards). Adds one frame of \
                            latency; false gives the lowest latency",
                    )
                    .default_value(DEFAULT_PIPELINED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-processed")
                    .nick("Frames processed")
                    .blurb("Frames translated since start")
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("inference-ms-last")
                    .nick("Last inference time")
                    .blurb("Time taken by the last frame, in milliseconds")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("inference-ms-mean")
                    .nick("Mean inference time")
                    .blurb("Mean time per frame since start, in milliseconds")
                    .minimum(0.0)
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Drop frames that downstream reports as already late instead of translating them.
        self.obj().set_property("qos", true);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "model-location" => {
                let new: Option<String> = value.get().expect("type checked upstream");
                gst::info!(CAT, imp = self, "model-location: {:?}", new);
                let changed = new != settings.model_location;
                settings.model_location = new;
                drop(settings);
                let running = self.state.lock().unwrap().is_some();
                if running && changed {
                    self.load_in_background();
                }
            }
            "device" => {
                settings.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            "precision" => settings.precision = value.get().expect("type checked upstream"),
            "resize-mode" => settings.resize_mode = value.get().expect("type checked upstream"),
            "inference-mode" => {
                settings.inference_mode = value.get().expect("type checked upstream")
            }
            "seed" => settings.seed = value.get().expect("type checked upstream"),
            "preserve-luma" => settings.preserve_luma = value.get().expect("type checked upstream"),
            "mix" => settings.mix = value.get().expect("type checked upstream"),
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            "tile-overlap" => settings.tile_overlap = value.get().expect("type checked upstream"),
            "pipelined" => settings.pipelined = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "model-location" => settings.model_location.to_value(),
            "device" => settings.device.to_value(),
            "precision" => settings.precision.to_value(),
            "resize-mode" => settings.resize_mode.to_value(),
            "inference-mode" => settings.inference_mode.to_value(),
            "seed" => settings.seed.to_value(),
            "preserve-luma" => settings.preserve_luma.to_value(),
            "mix" => settings.mix.to_value(),
            "threads" => settings.threads.to_value(),
            "tile-overlap" => settings.tile_overlap.to_value(),
            "pipelined" => settings.pipelined.to_value(),
            "frames-processed" => self.stats.lock().unwrap().frames.to_value(),
            "inference-ms-last" => (self.stats.lock().unwrap().last.as_secs_f64() * 1e3).to_value(),
            "inference-ms-mean" => {
                (self.stats.lock().unwrap().mean().as_secs_f64() * 1e3).to_value()
            }
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for Pix2PixTranslate {}

impl ElementImpl for Pix2PixTranslate {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "pix2pix translation",
                "Filter/Effect/Video",
                "Runs a pix2pix generator (U-Net, libtorch) on every frame: colorization, \
                 label maps or sketches to photos, and other image-to-image translations",
                "pix2pix-gst developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(all_formats())
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Pix2PixTranslate {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let threads = runtime::set_threads(settings.threads as usize);
        let tuned = runtime::tune_allocator();
        let started = Instant::now();
        let translator = load_translator(&settings).map_err(|e| e.to_error_msg())?;
        if settings.inference_mode == InferenceMode::Paper {
            tch::manual_seed(settings.seed as i64);
        }
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({}, trained at {}px, task {}) on {:?} in {:?} with {} threads (allocator tuned: {}); computing with {}",
            translator.info().generator.describe(),
            settings.model_location.as_deref().unwrap_or(""),
            translator.info().image_size,
            translator.info().task,
            translator.device(),
            started.elapsed(),
            threads,
            tuned,
            if settings.inference_mode == InferenceMode::Paper {
                "the network with batch statistics and dropout (paper mode)".to_string()
            } else {
                translator.compute_path()
            }
        );
        let mut packing_warned = false;
        self.warn_packing_failure(&translator, &mut packing_warned);
        self.new_run();
        *self.stats.lock().unwrap() = Stats::default();
        let (jobs, worker) = spawn_inference_thread(threads);
        *self.state.lock().unwrap() = Some(State {
            packing_warned,
            translator: Arc::new(translator),
            formats: None,
            in_flight: VecDeque::new(),
            jobs: Some(jobs),
            worker: Some(worker),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Dropping the state joins the inference thread; do it outside the lock.
        let state = self.state.lock().unwrap().take();
        drop(state);
        // Background loads end before the element is stopped; what they load
        // belongs to this run and is dropped.
        let loaders = std::mem::take(&mut *self.loaders.lock().unwrap());
        for h in loaders {
            let _ = h.join();
        }
        self.new_run();
        gst::info!(CAT, imp = self, "stopped");
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let out_channels = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.translator.output_channels());
        let allowed = match direction {
            gst::PadDirection::Sink => formats_for_channels(out_channels),
            _ => all_formats(),
        };
        let mut result = gst::Caps::new_empty();
        {
            let result = result.get_mut().unwrap();
            for (s, features) in caps.iter_with_features() {
                let mut s = s.to_owned();
                // Keep the peer's own format(s) first, so that e.g. RGBA stays RGBA
                // (and its alpha is carried over) when the model allows it.
                let mut preferred: Vec<gst_video::VideoFormat> = Vec::new();
                if let Ok(f) = s.get::<&str>("format") {
                    preferred.push(gst_video::VideoFormat::from_string(f));
                } else if let Ok(list) = s.get::<gst::List>("format") {
                    for v in list.iter() {
                        if let Ok(f) = v.get::<&str>() {
                            preferred.push(gst_video::VideoFormat::from_string(f));
                        }
                    }
                }
                let mut formats: Vec<gst_video::VideoFormat> = preferred
                    .into_iter()
                    .filter(|f| allowed.contains(f))
                    .collect();
                for f in &allowed {
                    if !formats.contains(f) {
                        formats.push(*f);
                    }
                }
                s.set("format", gst::List::new(formats.iter().map(|f| f.to_str())));
                result.append_structure_full(s, Some(features.to_owned()));
            }
        }
        gst::debug!(
            CAT,
            imp = self,
            "transformed {:?} caps {} into {}",
            direction,
            caps,
            result
        );
        match filter {
            Some(filter) => {
                Some(filter.intersect_with_mode(&result, gst::CapsIntersectMode::First))
            }
            None => Some(result),
        }
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // The parent applies QoS: a late frame is dropped here and never queued.
        self.parent_submit_input_buffer(is_discont, inbuf)?;
        if let Some(buf) = self.take_queued_buffer() {
            self.submit(buf)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        use gst_base::subclass::base_transform::GenerateOutputSuccess;
        let depth = usize::from(self.settings.lock().unwrap().pipelined);
        let next = {
            let mut state = self.state.lock().unwrap();
            let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
            if state.in_flight.len() > depth {
                state.in_flight.pop_front()
            } else {
                None
            }
        };
        match next {
            Some(f) => self.finish(f).map(GenerateOutputSuccess::Buffer),
            None => Ok(GenerateOutputSuccess::NoOutput),
        }
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(..) | gst::EventView::FlushStop(..) => self.discard(),
            // Frames in flight go out before anything that is ordered with them
            // (EOS, caps, segments, gaps, tags).
            _ if event.is_serialized() => self.drain(),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Src {
            if let gst::QueryViewMut::Latency(q) = query.view_mut() {
                if !BaseTransformImplExt::parent_query(self, direction, q.query_mut()) {
                    return false;
                }
                let (live, min, max) = q.result();
                let ours = {
                    let stats = self.stats.lock().unwrap();
                    // Before the first frame, assume one inference of unknown length is zero.
                    gst::ClockTime::from_nseconds(stats.mean().max(stats.last).as_nanos() as u64)
                };
                // Pipelined, a frame leaves when the next one arrives.
                let frame = {
                    let state = self.state.lock().unwrap();
                    state
                        .as_ref()
                        .and_then(|s| s.formats.as_ref())
                        .map(|f| f.in_info.fps())
                        .filter(|fps| fps.numer() > 0)
                        .and_then(|fps| {
                            gst::ClockTime::SECOND
                                .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
                        })
                };
                let ours = if self.settings.lock().unwrap().pipelined {
                    ours + frame.unwrap_or(gst::ClockTime::ZERO)
                } else {
                    ours
                };
                gst::debug!(CAT, imp = self, "adding {} of processing latency", ours);
                q.set(live, min + ours, max.map(|m| m + ours));
                return true;
            }
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }
}

impl VideoFilterImpl for Pix2PixTranslate {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let in_layout = layout_of(in_info.format()).ok_or_else(|| {
            gst::loggable_error!(CAT, "unsupported input format {:?}", in_info.format())
        })?;
        let out_layout = layout_of(out_info.format()).ok_or_else(|| {
            gst::loggable_error!(CAT, "unsupported output format {:?}", out_info.format())
        })?;
        if in_info.width() != out_info.width() || in_info.height() != out_info.height() {
            return Err(gst::loggable_error!(CAT, "input and output sizes differ"));
        }
        gst::debug!(
            CAT,
            imp = self,
            "configured {} -> {} ({}x{})",
            incaps,
            outcaps,
            in_info.width(),
            in_info.height()
        );
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "not started"))?;
        state.formats = Some(Formats {
            in_layout,
            out_layout,
            in_info: in_info.clone(),
            out_info: out_info.clone(),
        });
        Ok(())
    }
}

impl Pix2PixTranslate {
    /// Converts a frame and hands it to the inference thread.
    fn submit(&self, inbuf: gst::Buffer) -> Result<(), gst::FlowError> {
        let options = self.settings.lock().unwrap().options();
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        if let Some(new) = self.pending.lock().unwrap().model.take() {
            gst::info!(
                CAT,
                imp = self,
                "switching to the new model, computing with {}",
                new.compute_path()
            );
            state.translator = Arc::new(new);
            state.packing_warned = false;
        }
        // Packing can also fail later, on the first frame of a new size.
        self.warn_packing_failure(&state.translator, &mut state.packing_warned);
        let formats = state.formats.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &formats.in_info)
                .map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ("Cannot map the input frame")
                    );
                    gst::FlowError::Error
                })?;
        let img = ImageRef {
            data: frame.plane_data(0).map_err(|_| gst::FlowError::Error)?,
            width: frame.width() as usize,
            height: frame.height() as usize,
            stride: frame.plane_stride()[0] as usize,
            layout: formats.in_layout,
        };
        let channels = if formats.in_layout == PixelLayout::Gray8 {
            1
        } else {
            3
        };
        let input = image_to_tensor(&img, channels).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
            gst::FlowError::Error
        })?;
        drop(frame);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        state
            .jobs
            .as_ref()
            .ok_or(gst::FlowError::Flushing)?
            .send(Job {
                translator: state.translator.clone(),
                input,
                options,
                reply: tx,
            })
            .map_err(|_| gst::FlowError::Error)?;
        state.in_flight.push_back(InFlight {
            inbuf,
            formats,
            reply: rx,
        });
        Ok(())
    }

    /// Waits for the oldest frame in flight and writes it into a new buffer.
    fn finish(&self, f: InFlight) -> Result<gst::Buffer, gst::FlowError> {
        let (y, elapsed) = match f.reply.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Inference failed: {}", e)
                );
                return Err(gst::FlowError::Error);
            }
            Err(_) => return Err(gst::FlowError::Flushing),
        };
        let fm = &f.formats;
        let mut outbuf =
            gst::Buffer::with_size(fm.out_info.size()).map_err(|_| gst::FlowError::Error)?;
        {
            let out = outbuf.get_mut().unwrap();
            let _ = f.inbuf.copy_into(
                out,
                gst::BufferCopyFlags::FLAGS
                    | gst::BufferCopyFlags::TIMESTAMPS
                    | gst::BufferCopyFlags::META,
                ..,
            );
            let inframe =
                gst_video::VideoFrameRef::from_buffer_ref_readable(f.inbuf.as_ref(), &fm.in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let mut outframe =
                gst_video::VideoFrameRef::from_buffer_ref_writable(out, &fm.out_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let (w, h) = (inframe.width() as usize, inframe.height() as usize);
            let in_stride = inframe.plane_stride()[0] as usize;
            let out_stride = outframe.plane_stride()[0] as usize;
            let in_data = inframe.plane_data(0).map_err(|_| gst::FlowError::Error)?;
            let out_data = outframe
                .plane_data_mut(0)
                .map_err(|_| gst::FlowError::Error)?;
            if let Err(e) = tensor_to_image(&y, out_data, w, h, out_stride, fm.out_layout) {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("{}", e));
                return Err(gst::FlowError::Error);
            }
            // Alpha: carried over from the input when both sides have it, opaque otherwise.
            if let Some(ao) = fm.out_layout.alpha_offset() {
                let (ibpp, obpp) = (fm.in_layout.bpp(), fm.out_layout.bpp());
                for row in 0..h {
                    let orow = &mut out_data[row * out_stride..row * out_stride + w * obpp];
                    match fm.in_layout.alpha_offset() {
                        Some(ia) => {
                            let irow = &in_data[row * in_stride..row * in_stride + w * ibpp];
                            for (o, i) in orow.chunks_exact_mut(obpp).zip(irow.chunks_exact(ibpp)) {
                                o[ao] = i[ia];
                            }
                        }
                        None => orow.chunks_exact_mut(obpp).for_each(|o| o[ao] = 255),
                    }
                }
            }
        }
        let mut stats = self.stats.lock().unwrap();
        stats.frames += 1;
        stats.last = elapsed;
        stats.total += elapsed;
        gst::trace!(CAT, imp = self, "frame {} in {:?}", stats.frames, elapsed);
        Ok(outbuf)
    }

    /// Pushes every frame still in flight downstream, in order.
    fn drain(&self) {
        loop {
            let next = self
                .state
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|s| s.in_flight.pop_front());
            let Some(f) = next else { break };
            match self.finish(f) {
                Ok(buf) => {
                    if let Err(e) = self.obj().src_pad().push(buf) {
                        gst::debug!(CAT, imp = self, "pushing a drained frame: {:?}", e);
                    }
                }
                Err(e) => gst::debug!(CAT, imp = self, "draining: {:?}", e),
            }
        }
    }

    fn discard(&self) {
        if let Some(s) = self.state.lock().unwrap().as_mut() {
            gst::debug!(
                CAT,
                imp = self,
                "discarding {} frame(s) in flight",
                s.in_flight.len()
            );
            s.in_flight.clear();
        }
    }
}
