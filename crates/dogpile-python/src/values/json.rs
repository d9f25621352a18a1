//! `json.dumps` and `json.loads` with the standard library's defaults, natively, byte for byte
//! and value for value, for what JSON holds: `None`, `bool`, `int` (64 bits), `float`, `str`,
//! `list`, `tuple` and `dict` of exactly those types. For anything else (a subclass, a larger
//! integer, a lone surrogate, nesting deeper than [`MAX_DEPTH`]) both answer `None` and the
//! caller asks Python's `json`, so that every value reads and writes exactly as it does there.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// The deepest nesting done natively: beyond it, Python's `json` decides.
const MAX_DEPTH: usize = 256;

/// Appends `json.dumps(value)` to `out`; `false` (with `out` cut back) when Python's `json`
/// must write it.
pub(crate) fn dumps(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> bool {
    super::written(out, |out| write(value, out, 0))
}

fn write(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(b) = value.cast_exact::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if let Ok(s) = value.cast_exact::<PyString>() {
        write_str(&s.to_cow().ok()?, out);
    } else if let Ok(i) = value.cast_exact::<PyInt>() {
        out.extend_from_slice(i.extract::<i64>().ok()?.to_string().as_bytes());
    } else if let Ok(f) = value.cast_exact::<PyFloat>() {
        write_float(f.value(), out);
    } else if let Ok(list) = value.cast_exact::<PyList>() {
        write_items(list.iter(), out, depth)?;
    } else if let Ok(tuple) = value.cast_exact::<PyTuple>() {
        write_items(tuple.iter(), out, depth)?;
    } else if let Ok(dict) = value.cast_exact::<PyDict>() {
        out.push(b'{');
        for (n, (key, item)) in dict.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            write_key(&key, out)?;
            out.extend_from_slice(b": ");
            write(&item, out, depth + 1)?;
        }
        out.push(b'}');
    } else {
        return None;
    }
    Some(())
}

fn write_items<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    out.push(b'[');
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        write(&item, out, depth + 1)?;
    }
    out.push(b']');
    Some(())
}

/// A dictionary key as `json.dumps` writes it: a string, or a float, int, bool or `None`
/// written as one.
fn write_key(key: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Option<()> {
    if let Ok(s) = key.cast_exact::<PyString>() {
        write_str(&s.to_cow().ok()?, out);
        return Some(());
    }
    let scalar = key.is_none()
        || key.is_exact_instance_of::<PyBool>()
        || key.is_exact_instance_of::<PyInt>()
        || key.is_exact_instance_of::<PyFloat>();
    if !scalar {
        return None;
    }
    out.push(b'"');
    write(key, out, 0)?;
    out.push(b'"');
    Some(())
}

/// A string with every character outside printable ASCII escaped (`ensure_ascii`).
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let unit = |u: u16, out: &mut Vec<u8>| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((u >> shift) & 0xf)]);
        }
    };
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    unit(*u, out);
                }
            }
        }
    }
    out.push(b'"');
}

fn write_float(x: f64, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        out.extend_from_slice(float_repr(x).as_bytes());
    }
}

/// Python's `repr` of a finite float: the shortest digits that read back to it, positional
/// from 1e-4 up to 1e16 (with `.0` on whole numbers), else with an exponent of at least two
/// digits (`1e+16`, `1.5e-05`).
pub(crate) fn float_repr(x: f64) -> String {
    // Rust's `{:e}` gives the same shortest digits: `d.ddde<exp>`.
    let shortest = format!("{x:e}");
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1;
    let n = digits.len() as i32;
    let body = if (-3..=16).contains(&point) {
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point < n {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        } else {
            format!("{digits}{}.0", "0".repeat((point - n) as usize))
        }
    } else {
        let rest = if n > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}{rest}e{sign}{:02}", &digits[..1], exp.abs())
    };
    format!("{sign}{body}")
}

/// `json.loads(text)`, or `None` when Python's `json` must read it (including when it is not
/// JSON: Python then says so).
pub(crate) fn loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut reader = Reader { py, text, at: 0 };
    reader.skip_space();
    let Some(value) = reader.value(0)? else { return Ok(None) };
    reader.skip_space();
    Ok((reader.at == text.len()).then_some(value))
}

struct Reader<'a, 'py> {
    py: Python<'py>,
    text: &'a [u8],
    at: usize,
}

/// What a reader step gives: `Ok(None)` when Python's `json` must read the text.
type Step<'py> = PyResult<Option<Bound<'py, PyAny>>>;

impl<'py> Reader<'_, 'py> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.text[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    fn value(&mut self, depth: usize) -> Step<'py> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        let py = self.py;
        Ok(Some(match self.peek() {
            Some(b'{') => return self.object(depth),
            Some(b'[') => return self.array(depth),
            Some(b'"') => match self.string() {
                Some(s) => PyString::new(py, &s).into_any(),
                None => return Ok(None),
            },
            Some(b'-' | b'0'..=b'9') if !self.text[self.at..].starts_with(b"-Infinity") => return self.number(),
            _ if self.eat(b"null") => py.None().into_bound(py),
            _ if self.eat(b"true") => PyBool::new(py, true).to_owned().into_any(),
            _ if self.eat(b"false") => PyBool::new(py, false).to_owned().into_any(),
            _ if self.eat(b"NaN") => PyFloat::new(py, f64::NAN).into_any(),
            _ if self.eat(b"Infinity") => PyFloat::new(py, f64::INFINITY).into_any(),
            _ if self.eat(b"-Infinity") => PyFloat::new(py, f64::NEG_INFINITY).into_any(),
            _ => return Ok(None),
        }))
    }

    fn object(&mut self, depth: usize) -> Step<'py> {
        let dict = PyDict::new(self.py);
        self.at += 1;
        self.skip_space();
        if self.eat(b"}") {
            return Ok(Some(dict.into_any()));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Ok(None);
            }
            let Some(key) = self.string() else { return Ok(None) };
            self.skip_space();
            if !self.eat(b":") {
                return Ok(None);
            }
            self.skip_space();
            let Some(item) = self.value(depth + 1)? else { return Ok(None) };
            dict.set_item(key, item)?;
            self.skip_space();
            if self.eat(b"}") {
                return Ok(Some(dict.into_any()));
            }
            if !self.eat(b",") {
                return Ok(None);
            }
            self.skip_space();
        }
    }

    fn array(&mut self, depth: usize) -> Step<'py> {
        let list = PyList::empty(self.py);
        self.at += 1;
        self.skip_space();
        if self.eat(b"]") {
            return Ok(Some(list.into_any()));
        }
        loop {
            let Some(item) = self.value(depth + 1)? else { return Ok(None) };
            list.append(item)?;
            self.skip_space();
            if self.eat(b"]") {
                return Ok(Some(list.into_any()));
            }
            if !self.eat(b",") {
                return Ok(None);
            }
            self.skip_space();
        }
    }

    /// A number as Python's scanner reads one: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`, an
    /// `int` without fraction or exponent, else a `float`.
    fn number(&mut self) -> Step<'py> {
        let start = self.at;
        let digits = |r: &mut Self| {
            let from = r.at;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.at += 1;
            }
            r.at - from
        };
        self.eat(b"-");
        let whole = self.at;
        if digits(self) == 0 || (self.text[whole] == b'0' && self.at - whole > 1) {
            return Ok(None);
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.text.get(self.at + 1), Some(b'0'..=b'9')) {
            self.at += 1;
            digits(self);
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.at;
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                self.at = mark;
            } else {
                is_float = true;
            }
        }
        let Ok(text) = std::str::from_utf8(&self.text[start..self.at]) else { return Ok(None) };
        let py = self.py;
        Ok(if is_float {
            text.parse::<f64>().ok().map(|x| PyFloat::new(py, x).into_any())
        } else {
            text.parse::<i64>().ok().map(|i| {
                let Ok(i) = i.into_pyobject(py);
                i.into_any()
            })
        })
    }

    /// A string at `"`, its escapes read; `None` for a control character, a bad escape or a
    /// lone surrogate.
    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let run = self.text[self.at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            out.push_str(std::str::from_utf8(&self.text[self.at..self.at + run]).ok()?);
            self.at += run;
            match self.text[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    let escape = *self.text.get(self.at + 1)?;
                    self.at += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    });
                }
                _ => return None,
            }
        }
    }

    /// The character of a `\uXXXX` escape (after the `\u`), a surrogate pair read whole.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) && self.text[self.at..].starts_with(b"\\u") {
            self.at += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return None;
            }
            return char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
        }
        char::from_u32(first)
    }

    fn hex4(&mut self) -> Option<u32> {
        let hex = self.text.get(self.at..self.at + 4)?;
        let text = std::str::from_utf8(hex).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(text, 16).ok()
    }
}
