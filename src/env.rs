//! The `NONLIN_*` environment settings, each read by one parser here, where it is used: a value
//! a parser cannot read is ignored (the default stays), and [`ignored`] lists those.

use crate::simd::Level;

fn read(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// `NONLIN_SIMD`: a level to use at most (scalar, avx2, avx512, neon; those of this build).
pub fn simd() -> Option<Level> {
    read("NONLIN_SIMD").and_then(|v| Level::from_name(v.trim()))
}

/// `NONLIN_NUM_THREADS`: threads for large calls, at least 1.
pub fn num_threads() -> Option<usize> {
    read("NONLIN_NUM_THREADS")
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
}

/// `NONLIN_BUFFER_CACHE_MB`: MiB of output buffers to keep (0: none).
pub fn buffer_cache_mb() -> Option<usize> {
    read("NONLIN_BUFFER_CACHE_MB").and_then(|v| v.trim().parse().ok())
}

/// The settings present that their parser cannot read, or that the runtime cannot use:
/// (variable, value, what it must be). With `NONLIN_NUM_THREADS`, this starts the threads.
pub fn ignored() -> Vec<(&'static str, String, String)> {
    let levels = Level::all().iter().map(|l| l.name()).collect::<Vec<_>>();
    let threads = num_threads().map(|_| crate::parallel::start_error());
    [
        (
            "NONLIN_SIMD",
            simd().is_some(),
            format!("one of {}", levels.join(", ")),
        ),
        (
            "NONLIN_NUM_THREADS",
            matches!(threads, Some(None)),
            match threads {
                Some(Some(e)) => format!("a number of threads that can start ({e})"),
                _ => "a whole number of at least 1".into(),
            },
        ),
        (
            "NONLIN_BUFFER_CACHE_MB",
            buffer_cache_mb().is_some(),
            "a whole number".into(),
        ),
    ]
    .into_iter()
    .filter_map(|(var, ok, what)| Some((var, read(var).filter(|_| !ok)?, what)))
    .collect()
}
