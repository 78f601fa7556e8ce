//! Process-wide runtime settings: libtorch threads and device selection.

use tch::Device;

use crate::{Error, Result};

/// Number of cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Sets libtorch's intra-op thread count for the whole process; 0 means all cores.
/// This is the one place the project sets it. Returns the count in effect.
pub fn set_threads(n: usize) -> usize {
    let n = if n == 0 { available_cores() } else { n };
    tch::set_num_threads(n as i32);
    n
}

/// Keeps large tensor buffers in the heap instead of fresh `mmap`s.
///
/// glibc serves big allocations (the activations of a U-Net are megabytes each)
/// with `mmap` and returns them with `munmap`, so every frame page-faults its
/// buffers in again: about a third of a 256x256 forward pass on CPU. This raises
/// glibc's mmap and trim thresholds (process-wide, once) so freed buffers are
/// reused. Memory then stays with the process at its peak instead of going
/// back to the system between frames. Set `PIX2PIX_NO_MALLOC_TUNING=1` to keep
/// glibc's defaults. Returns whether the tuning was applied.
pub fn tune_allocator() -> bool {
    static APPLIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *APPLIED.get_or_init(|| {
        if std::env::var_os("PIX2PIX_NO_MALLOC_TUNING").is_some() {
            return false;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only changes allocator parameters.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            }
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            false
        }
    })
}

/// Current intra-op thread count.
pub fn threads() -> usize {
    tch::get_num_threads() as usize
}

/// Parses `cpu`, `cuda` or `cuda:N`, and checks that the device exists.
/// CUDA asked for but absent is an error, never a silent fallback to CPU.
pub fn parse_device(s: &str) -> Result<Device> {
    let s = s.trim();
    let dev = match s {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0usize,
        _ => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| Error::Device(s.into(), "expected cpu, cuda or cuda:N".into()))?,
            None => {
                return Err(Error::Device(
                    s.into(),
                    "expected cpu, cuda or cuda:N".into(),
                ))
            }
        },
    };
    if !tch::Cuda::is_available() {
        return Err(Error::Device(
            s.into(),
            "CUDA is not available on this machine (no GPU, driver or CUDA-enabled libtorch)"
                .into(),
        ));
    }
    let count = tch::Cuda::device_count() as usize;
    if dev >= count {
        return Err(Error::Device(
            s.into(),
            format!("only {count} CUDA device(s) present"),
        ));
    }
    Ok(Device::Cuda(dev))
}
