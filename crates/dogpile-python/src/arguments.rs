//! dogpile's `arguments` dictionary as dogpile-rs [`Arguments`].

use dogpile::config::{Arguments, ConfigValue};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// The arguments of `dict`: strings, numbers, booleans, `None`, lists, tuples and nested
/// dictionaries. Values of other types (a connection pool object, say) are left out, with a
/// warning, as the Rust side cannot use them.
pub(crate) fn to_arguments(dict: &Bound<'_, PyDict>) -> PyResult<Arguments> {
    let mut arguments = Arguments::new();
    for (name, value) in dict.iter() {
        let name: String = name.extract().map_err(|_| PyTypeError::new_err("argument names are str"))?;
        match to_value(&value)? {
            Some(value) => arguments.insert(name, value),
            None => warn(dict.py(), &format!("dogpile_rs ignores the argument {name:?}: its type has no Rust form"))?,
        }
    }
    Ok(arguments)
}

fn to_value(value: &Bound<'_, PyAny>) -> PyResult<Option<ConfigValue>> {
    Ok(Some(if value.is_none() {
        ConfigValue::None
    } else if let Ok(b) = value.cast::<PyBool>() {
        ConfigValue::Bool(b.is_true())
    } else if value.is_instance_of::<PyInt>() {
        ConfigValue::Int(value.extract()?)
    } else if value.is_instance_of::<PyFloat>() {
        ConfigValue::Float(value.extract()?)
    } else if let Ok(s) = value.cast::<PyString>() {
        ConfigValue::Str(s.to_cow()?.into_owned())
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in value.try_iter()? {
            match to_value(&item?)? {
                Some(item) => items.push(item),
                None => return Ok(None),
            }
        }
        ConfigValue::List(items)
    } else if let Ok(d) = value.cast::<PyDict>() {
        ConfigValue::Map(to_arguments(d)?)
    } else {
        return Ok(None);
    }))
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let warnings = py.import("warnings")?;
    warnings.call_method1("warn", (message,))?;
    Ok(())
}
