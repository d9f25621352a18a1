//! Function keys as dogpile.cache's `function_key_generator` makes them: Python's `str()` of
//! each argument, joined by spaces.

use std::fmt::Write;

/// One argument of a cached function, written into its key as Python's `str()` writes it, so
/// that a Rust caller and a Python caller of the same function hit the same entry.
///
/// | Rust | key part | Python |
/// |---|---|---|
/// | `true` | `True` | `str(True)` |
/// | `1.0_f64`, `1e20`, `1e-5` | `1.0`, `1e+20`, `1e-05` | `str(1.0)`, `str(1e20)`, `str(1e-5)` |
/// | `None::<T>` | `None` | `str(None)` |
/// | `42_u64`, `"ab"`, `'c'` | `42`, `ab`, `c` | `str(42)`, `str("ab")`, `str("c")` |
///
/// # Examples
///
/// ```
/// use dogpile::region::KeyPart;
///
/// let mut key = String::new();
/// 1e16_f64.write_key_part(&mut key);
/// assert_eq!(key, "1e+16");
/// ```
pub trait KeyPart {
    /// Appends Python's `str()` of this value to `out`.
    fn write_key_part(&self, out: &mut String);
}

impl<T: KeyPart + ?Sized> KeyPart for &T {
    fn write_key_part(&self, out: &mut String) {
        (**self).write_key_part(out);
    }
}

macro_rules! display_part {
    ($($t:ty),*) => {$(
        impl KeyPart for $t {
            fn write_key_part(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
display_part!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char, str, String);

impl KeyPart for bool {
    fn write_key_part(&self, out: &mut String) {
        out.push_str(if *self { "True" } else { "False" });
    }
}

impl KeyPart for f64 {
    fn write_key_part(&self, out: &mut String) {
        python_float(*self, out);
    }
}

impl KeyPart for f32 {
    /// As the `float` (an `f64`) Python would be given.
    fn write_key_part(&self, out: &mut String) {
        python_float(f64::from(*self), out);
    }
}

impl<T: KeyPart> KeyPart for Option<T> {
    fn write_key_part(&self, out: &mut String) {
        match self {
            Some(value) => value.write_key_part(out),
            None => out.push_str("None"),
        }
    }
}

/// Python's `repr(float)` (which `str()` equals): the shortest digits that read back as the
/// same float, in fixed notation unless the decimal point is more than 16 places right or 4
/// places left of the first digit, and a `.0` on integral values.
fn python_float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.2345e3".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if mantissa.starts_with('-') {
        out.push('-');
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1; // where the decimal point goes, counted from the first digit
    if !(-3..=16).contains(&point) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if point >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

/// Arguments that make up a cache key: Python's `str()` of each ([`KeyPart`]), joined by
/// spaces (dogpile's `function_key_generator`).
///
/// Implemented for single [`KeyPart`]s and for tuples of up to six.
pub trait KeyArgs {
    /// Appends this argument tuple's part of the key to `out`.
    fn write_key(&self, out: &mut String);
}

impl<T: KeyArgs + ?Sized> KeyArgs for &T {
    fn write_key(&self, out: &mut String) {
        (**self).write_key(out);
    }
}

macro_rules! scalar_args {
    ($($t:ty),*) => {$(
        impl KeyArgs for $t {
            fn write_key(&self, out: &mut String) {
                self.write_key_part(out);
            }
        }
    )*};
}
scalar_args!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char, str, String, f32, f64);

impl<T: KeyPart> KeyArgs for Option<T> {
    fn write_key(&self, out: &mut String) {
        self.write_key_part(out);
    }
}

macro_rules! tuple_args {
    ($first:ident $(, $rest:ident)*) => {
        impl<$first: KeyPart, $($rest: KeyPart),*> KeyArgs for ($first, $($rest,)*) {
            #[allow(non_snake_case)]
            fn write_key(&self, out: &mut String) {
                let ($first, $($rest,)*) = self;
                $first.write_key_part(out);
                $( out.push(' '); $rest.write_key_part(out); )*
            }
        }
    };
}
tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);
tuple_args!(A, B, C, D, E);
tuple_args!(A, B, C, D, E, F);

impl KeyArgs for () {
    fn write_key(&self, _out: &mut String) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(x: f64) -> String {
        let mut out = String::new();
        python_float(x, &mut out);
        out
    }

    #[test]
    fn floats_as_python_repr() {
        // Each pair is (value, CPython 3.11's repr(value)).
        for (x, repr) in [
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(float(x), repr, "{x:e}");
        }
    }

    #[test]
    fn parts_join_with_spaces() {
        let mut key = String::new();
        (true, 1.0, None::<u8>, "a b", 7).write_key(&mut key);
        assert_eq!(key, "True 1.0 None a b 7");
    }
}
