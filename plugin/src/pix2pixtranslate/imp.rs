//! The GObject side of `pix2pixtranslate`. Tensor work lives in
//! `pix2pix_model::translate`; this file maps frames, caps, properties and
//! errors onto GStreamer conventions.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use pix2pix_model::image::{image_to_tensor, tensor_to_image, ImageRef, PixelLayout};
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
}

/// Created in `start`, dropped in `stop`.
struct State {
    translator: Arc<Translator>,
    formats: Option<Formats>,
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

/// A model loaded in the background, waiting to be swapped in between frames.
type Pending = Arc<Mutex<Option<Translator>>>;

#[derive(Default)]
pub struct Pix2PixTranslate {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    stats: Mutex<Stats>,
    pending: Pending,
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
    /// Loads the model named by `model-location` in a background thread while
    /// the element runs; it is swapped in between two frames. On failure the
    /// running model stays and a warning is posted.
    fn load_in_background(&self) {
        let settings = self.settings.lock().unwrap().clone();
        let pending = self.pending.clone();
        let element = self.obj().downgrade();
        let out_channels = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.translator.output_channels());
        std::thread::Builder::new()
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
                        *pending.lock().unwrap() = Some(t);
                    }
                    Err(e) => {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Read,
                            ("Keeping the current model: {}", e.message)
                        );
                    }
                }
            })
            .expect("spawn loader thread");
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
            "loaded {} ({}, trained at {}px, task {}) on {:?} in {:?} with {} threads (allocator tuned: {})",
            translator.info().generator.describe(),
            settings.model_location.as_deref().unwrap_or(""),
            translator.info().image_size,
            translator.info().task,
            translator.device(),
            started.elapsed(),
            threads,
            tuned
        );
        *self.pending.lock().unwrap() = None;
        *self.stats.lock().unwrap() = Stats::default();
        *self.state.lock().unwrap() = Some(State {
            translator: Arc::new(translator),
            formats: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.pending.lock().unwrap() = None;
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
        });
        Ok(())
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let options = self.settings.lock().unwrap().options();
        let (translator, formats) = {
            let mut state = self.state.lock().unwrap();
            let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
            if let Some(new) = self.pending.lock().unwrap().take() {
                gst::info!(CAT, imp = self, "switching to the new model");
                state.translator = Arc::new(new);
            }
            let formats = state.formats.clone().ok_or(gst::FlowError::NotNegotiated)?;
            (state.translator.clone(), formats)
        };
        let started = Instant::now();
        let (w, h) = (inframe.width() as usize, inframe.height() as usize);
        let in_channels = if formats.in_layout == PixelLayout::Gray8 {
            1
        } else {
            3
        };
        let img = ImageRef {
            data: inframe.plane_data(0).map_err(|_| gst::FlowError::Error)?,
            width: w,
            height: h,
            stride: inframe.plane_stride()[0] as usize,
            layout: formats.in_layout,
        };
        let result =
            image_to_tensor(&img, in_channels).and_then(|x| translator.translate(&x, &options));
        let y = match result {
            Ok(y) => y,
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Inference failed: {}", e)
                );
                return Err(gst::FlowError::Error);
            }
        };
        let out_stride = outframe.plane_stride()[0] as usize;
        let out_data = outframe
            .plane_data_mut(0)
            .map_err(|_| gst::FlowError::Error)?;
        if let Err(e) = tensor_to_image(&y, out_data, w, h, out_stride, formats.out_layout) {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{}", e));
            return Err(gst::FlowError::Error);
        }
        // Alpha: carried over from the input when both sides have it, opaque otherwise.
        if let Some(ao) = formats.out_layout.alpha_offset() {
            let (ibpp, obpp) = (formats.in_layout.bpp(), formats.out_layout.bpp());
            let in_alpha = formats.in_layout.alpha_offset();
            for y in 0..h {
                let orow = &mut out_data[y * out_stride..y * out_stride + w * obpp];
                match in_alpha {
                    Some(ia) => {
                        let irow = &img.data[y * img.stride..y * img.stride + w * ibpp];
                        for (o, i) in orow.chunks_exact_mut(obpp).zip(irow.chunks_exact(ibpp)) {
                            o[ao] = i[ia];
                        }
                    }
                    None => {
                        for o in orow.chunks_exact_mut(obpp) {
                            o[ao] = 255;
                        }
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        let mut stats = self.stats.lock().unwrap();
        stats.frames += 1;
        stats.last = elapsed;
        stats.total += elapsed;
        gst::trace!(CAT, imp = self, "frame {} in {:?}", stats.frames, elapsed);
        Ok(gst::FlowSuccess::Ok)
    }
}
