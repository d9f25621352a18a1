//! A configuration value, as dogpile's configuration dictionaries hold them.

use std::fmt;

use super::Arguments;

/// A configuration value.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigValue {
    /// No value (Python's `None`).
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<ConfigValue>),
    /// A nested table.
    Map(Arguments),
}

impl ConfigValue {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            ConfigValue::None => "none",
            ConfigValue::Bool(_) => "a boolean",
            ConfigValue::Int(_) => "an integer",
            ConfigValue::Float(_) => "a float",
            ConfigValue::Str(_) => "a string",
            ConfigValue::List(_) => "a list",
            ConfigValue::Map(_) => "a table",
        }
    }

    /// Reads a string the way dogpile's `coerce_string_conf` does: integers, floats,
    /// `true`/`false` (any case) and `None` become typed values; anything else stays a string.
    pub fn coerce(text: &str) -> ConfigValue {
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = t.parse::<i64>()
        {
            return ConfigValue::Int(n);
        }
        let looks_numeric = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && digits.bytes().any(|b| b.is_ascii_digit());
        if looks_numeric && let Ok(x) = t.parse::<f64>() {
            return ConfigValue::Float(x);
        }
        match t.to_ascii_lowercase().as_str() {
            "true" => ConfigValue::Bool(true),
            "false" => ConfigValue::Bool(false),
            _ if t == "None" => ConfigValue::None,
            _ => ConfigValue::Str(t.to_owned()),
        }
    }
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::None => f.write_str("None"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(n) => write!(f, "{n}"),
            ConfigValue::Float(x) => write!(f, "{x:?}"),
            ConfigValue::Str(s) => write!(f, "{s:?}"),
            ConfigValue::List(l) => f.debug_list().entries(l).finish(),
            ConfigValue::Map(m) => write!(f, "{m:?}"),
        }
    }
}

macro_rules! config_from {
    ($($t:ty => $variant:ident as $conv:ty),* $(,)?) => {$(
        impl From<$t> for ConfigValue {
            fn from(v: $t) -> Self {
                ConfigValue::$variant(<$conv>::from(v))
            }
        }
    )*};
}
config_from!(bool => Bool as bool, i32 => Int as i64, i64 => Int as i64, u32 => Int as i64, f64 => Float as f64, &str => Str as String, String => Str as String);

impl From<Arguments> for ConfigValue {
    fn from(v: Arguments) -> Self {
        ConfigValue::Map(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_like_dogpile() {
        assert_eq!(ConfigValue::coerce(" 42 "), ConfigValue::Int(42));
        assert_eq!(ConfigValue::coerce("-1"), ConfigValue::Int(-1));
        assert_eq!(ConfigValue::coerce("1.5"), ConfigValue::Float(1.5));
        assert_eq!(ConfigValue::coerce("True"), ConfigValue::Bool(true));
        assert_eq!(ConfigValue::coerce("None"), ConfigValue::None);
        assert_eq!(ConfigValue::coerce("redis://h"), ConfigValue::Str("redis://h".into()));
        assert_eq!(ConfigValue::coerce("e"), ConfigValue::Str("e".into()));
    }
}
