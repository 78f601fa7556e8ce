//! The bounded inference queue: requests are admitted up to a fixed number
//! (being decoded, waiting, or running); beyond that the server answers 503 at
//! once instead of letting work pile up. A fixed set of worker threads runs
//! the models, so libtorch never sees more concurrent forwards than workers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pix2pix_model::tch::Tensor;

use crate::models::Model;

/// A place in the queue; giving it back (dropping it) frees the place.
pub struct Ticket {
    pending: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Job {
    model: usize,
    input: Tensor,
    reply: mpsc::Sender<Result<(Tensor, Duration), String>>,
}

/// Counters for `/healthz`.
#[derive(Debug, Default)]
pub struct Counters {
    pub translated: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub failed: AtomicU64,
    pub busy_micros: AtomicU64,
}

pub struct InferenceQueue {
    tx: Option<SyncSender<Job>>,
    pending: Arc<AtomicUsize>,
    capacity: usize,
    workers: Vec<JoinHandle<()>>,
    pub counters: Arc<Counters>,
}

impl InferenceQueue {
    /// `capacity` requests at most in the queue (including those running) and
    /// `workers` inference threads.
    pub fn new(models: Arc<Vec<Model>>, capacity: usize, workers: usize) -> InferenceQueue {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        let workers = (0..workers.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                let models = Arc::clone(&models);
                let counters = Arc::clone(&counters);
                std::thread::Builder::new()
                    .name(format!("inference-{i}"))
                    .spawn(move || worker(&rx, &models, &counters))
                    .expect("spawn an inference thread")
            })
            .collect();
        InferenceQueue {
            tx: Some(tx),
            pending: Arc::new(AtomicUsize::new(0)),
            capacity,
            workers,
            counters,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests admitted and not yet answered.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// A place in the queue, or `None` when it is full.
    pub fn admit(&self) -> Option<Ticket> {
        let mut cur = self.pending.load(Ordering::Acquire);
        loop {
            if cur >= self.capacity {
                self.counters.rejected_busy.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.pending.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Ticket {
                        pending: Arc::clone(&self.pending),
                    })
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Runs `model` on `input` (1 x C x H x W in [-1, 1]) and waits for the
    /// result and the time the forward took. The ticket proves a free place.
    pub fn run(
        &self,
        _ticket: &Ticket,
        model: usize,
        input: Tensor,
    ) -> Result<(Tensor, Duration), String> {
        let (reply, answer) = mpsc::channel();
        let tx = self.tx.as_ref().ok_or("the server is shutting down")?;
        // Admission keeps the channel from ever being full; try_send guards anyway.
        tx.try_send(Job {
            model,
            input,
            reply,
        })
        .map_err(|_| "the inference queue is not accepting work".to_string())?;
        answer
            .recv()
            .map_err(|_| "the inference thread stopped".to_string())?
    }
}

impl Drop for InferenceQueue {
    fn drop(&mut self) {
        self.tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, models: &[Model], counters: &Counters) {
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let model = &models[job.model];
        let started = Instant::now();
        let result = model
            .translator
            .translate(&job.input, &model.options)
            .map_err(|e| e.to_string());
        let took = started.elapsed();
        counters
            .busy_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        match &result {
            Ok(_) => counters.translated.fetch_add(1, Ordering::Relaxed),
            Err(_) => counters.failed.fetch_add(1, Ordering::Relaxed),
        };
        // The client may have gone; nothing to do then.
        let _ = job.reply.send(result.map(|t| (t, took)));
    }
}
