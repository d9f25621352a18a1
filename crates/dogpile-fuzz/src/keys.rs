//! Keys from arbitrary strings: hash keys keep their field through a mangler, SHA-1 keys are
//! 40 hex digits, and the length-conditional mangler leaves short keys alone.

use dogpile::{CacheKey, KeyMangler};

/// Splits `data` at its first zero byte into a hash's name and a field (lossy UTF-8), the
/// first byte giving the conditional mangler's length, and checks each mangler on the plain
/// key and on the hash key.
pub fn keys(data: &[u8]) {
    let limit = usize::from(data.first().copied().unwrap_or(0));
    let text = String::from_utf8_lossy(data);
    let (name, field) = text.split_once('\0').unwrap_or((&text, ""));
    let plain = CacheKey::from(name);
    let hash = CacheKey::hash(name, field);
    assert_ne!(plain, hash, "a plain key and a hash key of the same name are different keys");

    let sha1 = KeyMangler::sha1().mangle(&plain).to_string();
    assert!(sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{sha1}");
    let conditional = KeyMangler::sha1_if_longer_than(limit).mangle(&plain).to_string();
    if name.len() < limit {
        assert_eq!(conditional, name, "a key shorter than {limit} bytes is kept");
    } else {
        assert_eq!(conditional, sha1);
    }
    for mangler in
        [KeyMangler::sha1(), KeyMangler::sha1_if_longer_than(limit), KeyMangler::from_fn(|k| format!("p:{k}"))]
    {
        match mangler.mangle(&hash) {
            CacheKey::Hash { name: mangled, field: kept } => {
                assert_eq!(kept, field, "the field is not mangled");
                assert_eq!(mangled, mangler.mangle(&plain).to_string(), "the name is mangled as a plain key");
            }
            other => panic!("a hash key mangled into {other:?}"),
        }
    }
}
