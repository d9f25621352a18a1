//! The Rust region's resilience options, as the Python regions' `configure` keywords name
//! them.

use std::time::Duration;

use dogpile::RegionBuilder;
use dogpile::region::{EarlyRefresh, FailOpen, FailSafe};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A number of seconds.
fn duration(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let seconds: f64 = value.extract()?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| PyValueError::new_err(format!("{name}: expected a non-negative number of seconds, got {seconds}")))
}

/// `fail_open`: `True`, or a dictionary of `failures`, `cooldown` (seconds) and `capacity`.
fn fail_open(value: &Bound<'_, PyAny>) -> PyResult<Option<FailOpen>> {
    let Ok(settings) = value.cast::<PyDict>() else {
        return Ok(value.is_truthy()?.then(FailOpen::new));
    };
    let mut fail_open = FailOpen::new();
    if let (Some(failures), Some(cooldown)) = (settings.get_item("failures")?, settings.get_item("cooldown")?) {
        fail_open = fail_open.breaker(failures.extract()?, duration("fail_open.cooldown", &cooldown)?);
    }
    if let Some(capacity) = settings.get_item("capacity")? {
        fail_open = fail_open.capacity(capacity.extract()?);
    }
    Ok(Some(fail_open))
}

/// Whether `options` ask for background regeneration (`background_regeneration`: dogpile's
/// `async_creation_runner`): an expired value is returned at once while a spawned task makes
/// the new one under the key's lock.
pub(super) fn background(options: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
    match options {
        Some(options) => {
            Ok(options.get_item("background_regeneration")?.map(|v| v.is_truthy()).transpose()?.unwrap_or(false))
        }
        None => Ok(false),
    }
}

/// `builder` with the options `options` names (see `dogpile_rs._configured.RESILIENCE`).
pub(super) fn apply(mut builder: RegionBuilder, options: &Bound<'_, PyDict>) -> PyResult<RegionBuilder> {
    let get = |name: &str| options.get_item(name).map(|v| v.filter(|v| !v.is_none()));
    if let Some(max_age) = get("fail_safe")? {
        let mut fail_safe = FailSafe::new(duration("fail_safe", &max_age)?);
        if let Some(throttle) = get("fail_safe_throttle")? {
            fail_safe = fail_safe.throttle(duration("fail_safe_throttle", &throttle)?);
        }
        builder = builder.fail_safe(fail_safe);
    }
    if let Some(timeout) = get("creator_timeout")? {
        builder = builder.creator_timeout(duration("creator_timeout", &timeout)?);
    }
    if let Some(timeout) = get("soft_timeout")? {
        builder = builder.soft_timeout(duration("soft_timeout", &timeout)?);
    }
    if let Some(settings) = get("fail_open")?
        && let Some(fail_open) = fail_open(&settings)?
    {
        builder = builder.fail_open(fail_open);
    }
    if let Some(beta) = get("early_refresh")? {
        builder = builder.early_refresh(EarlyRefresh::new(beta.extract()?));
    }
    if let Some(fraction) = get("expiration_jitter")? {
        builder = builder.expiration_jitter(fraction.extract()?);
    }
    Ok(builder)
}
