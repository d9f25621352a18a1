//! `msgpack.packb` and `msgpack.unpackb` with the package's defaults (`use_bin_type=True`,
//! `raw=False`, `strict_map_key=True`), natively, byte for byte and value for value, for
//! `None`, `bool`, `int` (64 bits), `float`, `str`, `bytes`, `list`, `tuple` and `dict` of
//! exactly those types. For anything else (a subclass, a larger integer, an extension type,
//! bytes that are not one whole value, nesting deeper than [`MAX_DEPTH`]) both answer `None`
//! and the caller asks the `msgpack` package, so that every value reads and writes exactly as
//! it does there.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// The deepest nesting done natively: beyond it, the `msgpack` package decides.
const MAX_DEPTH: usize = 256;

/// Appends `msgpack.packb(value)` to `out`; `false` (with `out` cut back) when the `msgpack`
/// package must write it.
pub(crate) fn packb(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> bool {
    super::written(out, |out| write(value, out, 0))
}

fn write(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    if value.is_none() {
        out.push(0xc0);
    } else if let Ok(b) = value.cast_exact::<PyBool>() {
        out.push(if b.is_true() { 0xc3 } else { 0xc2 });
    } else if let Ok(i) = value.cast_exact::<PyInt>() {
        match i.extract::<i64>() {
            Ok(i) => write_int(i, out),
            Err(_) => write_uint(i.extract::<u64>().ok()?, out),
        }
    } else if let Ok(f) = value.cast_exact::<PyFloat>() {
        out.push(0xcb);
        out.extend_from_slice(&f.value().to_be_bytes());
    } else if let Ok(s) = value.cast_exact::<PyString>() {
        let s = s.to_cow().ok()?;
        write_len(s.len(), [0xa0, 0xd9, 0xda, 0xdb], 32, out)?;
        out.extend_from_slice(s.as_bytes());
    } else if let Ok(b) = value.cast_exact::<PyBytes>() {
        let b = b.as_bytes();
        write_len(b.len(), [0, 0xc4, 0xc5, 0xc6], 0, out)?;
        out.extend_from_slice(b);
    } else if let Ok(list) = value.cast_exact::<PyList>() {
        write_len(list.len(), [0x90, 0, 0xdc, 0xdd], 16, out)?;
        for item in list.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(tuple) = value.cast_exact::<PyTuple>() {
        write_len(tuple.len(), [0x90, 0, 0xdc, 0xdd], 16, out)?;
        for item in tuple.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(dict) = value.cast_exact::<PyDict>() {
        write_len(dict.len(), [0x80, 0, 0xde, 0xdf], 16, out)?;
        for (key, item) in dict.iter() {
            write(&key, out, depth + 1)?;
            write(&item, out, depth + 1)?;
        }
    } else {
        return None;
    }
    Some(())
}

/// A length header: `fix | len` below `fix_below`, else the 8-, 16- or 32-bit form (a `0`
/// marker: the type has no such form).
fn write_len(len: usize, [fix, m8, m16, m32]: [u8; 4], fix_below: usize, out: &mut Vec<u8>) -> Option<()> {
    if len < fix_below {
        out.push(fix | len as u8);
    } else if m8 != 0 && len <= 0xff {
        out.extend_from_slice(&[m8, len as u8]);
    } else if len <= 0xffff {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&u32::try_from(len).ok()?.to_be_bytes());
    }
    Some(())
}

/// An integer in its smallest form, as the package's packer chooses it.
fn write_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        return write_uint(i as u64, out);
    }
    if i >= -32 {
        out.push(i as u8);
    } else if i >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if i >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn write_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u <= 0xff {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

/// `msgpack.unpackb(bytes)`, or `None` when the `msgpack` package must read them (including
/// when they are not one whole value: the package then says so).
pub(crate) fn unpackb<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut reader = Reader { py, bytes, at: 0 };
    let value = reader.value(0)?;
    Ok(value.filter(|_| reader.at == bytes.len()))
}

struct Reader<'a, 'py> {
    py: Python<'py>,
    bytes: &'a [u8],
    at: usize,
}

/// What a reader step gives: `Ok(None)` when the `msgpack` package must read the bytes.
type Step<'py> = PyResult<Option<Bound<'py, PyAny>>>;

impl<'a, 'py> Reader<'a, 'py> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A length of 1, 2 or 4 big-endian bytes.
    fn len(&mut self, width: usize) -> Option<usize> {
        Some(match width {
            1 => usize::from(self.be::<1>()?[0]),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn value(&mut self, depth: usize) -> Step<'py> {
        let py = self.py;
        let Some(marker) = self.take(1).map(|m| m[0]) else { return Ok(None) };
        let int = |i: i64| -> Step<'py> {
            let Ok(i) = i.into_pyobject(py);
            Ok(Some(i.into_any()))
        };
        match marker {
            0x00..=0x7f => int(i64::from(marker)),
            0xe0..=0xff => int(i64::from(marker as i8)),
            0xc0 => Ok(Some(py.None().into_bound(py))),
            0xc2 | 0xc3 => Ok(Some(PyBool::new(py, marker == 0xc3).to_owned().into_any())),
            0xcc => self.be::<1>().map_or(Ok(None), |b| int(i64::from(b[0]))),
            0xcd => self.be().map_or(Ok(None), |b| int(i64::from(u16::from_be_bytes(b)))),
            0xce => self.be().map_or(Ok(None), |b| int(i64::from(u32::from_be_bytes(b)))),
            0xcf => Ok(self.be().map(|b| {
                let Ok(u) = u64::from_be_bytes(b).into_pyobject(py);
                u.into_any()
            })),
            0xd0 => self.be::<1>().map_or(Ok(None), |b| int(i64::from(b[0] as i8))),
            0xd1 => self.be().map_or(Ok(None), |b| int(i64::from(i16::from_be_bytes(b)))),
            0xd2 => self.be().map_or(Ok(None), |b| int(i64::from(i32::from_be_bytes(b)))),
            0xd3 => self.be().map_or(Ok(None), |b| int(i64::from_be_bytes(b))),
            0xca => Ok(self.be().map(|b| PyFloat::new(py, f64::from(f32::from_be_bytes(b))).into_any())),
            0xcb => Ok(self.be().map(|b| PyFloat::new(py, f64::from_be_bytes(b)).into_any())),
            0xa0..=0xbf => Ok(self.str(usize::from(marker & 0x1f))),
            0xd9..=0xdb => Ok(self.len(1 << (marker - 0xd9)).and_then(|n| self.str(n))),
            0xc4..=0xc6 => {
                Ok(self.len(1 << (marker - 0xc4)).and_then(|n| self.take(n)).map(|b| PyBytes::new(py, b).into_any()))
            }
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth),
            0xdc | 0xdd => match self.len(2 << (marker - 0xdc)) {
                Some(n) => self.array(n, depth),
                None => Ok(None),
            },
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth),
            0xde | 0xdf => match self.len(2 << (marker - 0xde)) {
                Some(n) => self.map(n, depth),
                None => Ok(None),
            },
            // Extension types, timestamps and the unused marker.
            _ => Ok(None),
        }
    }

    fn str(&mut self, n: usize) -> Option<Bound<'py, PyAny>> {
        let text = std::str::from_utf8(self.take(n)?).ok()?;
        Some(PyString::new(self.py, text).into_any())
    }

    fn array(&mut self, n: usize, depth: usize) -> Step<'py> {
        // Each item takes a byte at least: a count beyond what is left is not read natively
        // (and nothing is allocated for it).
        if depth >= MAX_DEPTH || n > self.bytes.len() - self.at {
            return Ok(None);
        }
        let list = PyList::empty(self.py);
        for _ in 0..n {
            let Some(item) = self.value(depth + 1)? else { return Ok(None) };
            list.append(item)?;
        }
        Ok(Some(list.into_any()))
    }

    fn map(&mut self, n: usize, depth: usize) -> Step<'py> {
        if depth >= MAX_DEPTH || n > self.bytes.len() - self.at {
            return Ok(None);
        }
        let dict = PyDict::new(self.py);
        for _ in 0..n {
            let Some(key) = self.value(depth + 1)? else { return Ok(None) };
            // strict_map_key: only str and bytes keys.
            if !key.is_exact_instance_of::<PyString>() && !key.is_exact_instance_of::<PyBytes>() {
                return Ok(None);
            }
            let Some(item) = self.value(depth + 1)? else { return Ok(None) };
            dict.set_item(key, item)?;
        }
        Ok(Some(dict.into_any()))
    }
}
