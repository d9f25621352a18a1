//! The pickle reader: opcodes into an arena of nodes, then the arena into a [`Value`] tree.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use super::{PickleError, op};
use crate::codec::value::{Value, ValueDeserializer};
use crate::error::BoxError;

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 512;

type Id = usize;

/// The callables a plain-data pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    /// `dogpile.cache.api.CachedValue`: dogpile 0.9's wrapper of every entry.
    CachedValue,
    /// `_codecs.encode`: protocol 2's way of writing non-empty `bytes`.
    CodecsEncode,
    /// `bytes`: protocol 2's way of writing `b""`.
    Bytes,
}

#[derive(Debug)]
enum Node {
    Leaf(Value),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Global),
    CachedValue(Id, Id),
}

fn err<T>(message: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError(message.into()))
}

/// Decodes a whole pickle into `T`; a pickled `CachedValue` is accepted only where the seed
/// envelope asks for one.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BoxError> {
    let (value, cached_value) = read(bytes)?;
    Ok(T::deserialize(ValueDeserializer::new(value).cached_value(cached_value))?)
}

/// The pickled value, and whether it was a `CachedValue` (then as a `(payload, metadata)`
/// tuple).
fn read(bytes: &[u8]) -> Result<(Value, bool), PickleError> {
    let mut machine = Machine { input: bytes, pos: 0, nodes: Vec::new(), stack: Vec::new(), marks: Vec::new() };
    let top = machine.run()?;
    let mut builder = Builder {
        nodes: &machine.nodes,
        visiting: vec![false; machine.nodes.len()],
        budget: 1_000_000 + 16 * bytes.len(),
    };
    match &machine.nodes[top] {
        Node::CachedValue(payload, metadata) => {
            let tuple = Value::Tuple(vec![builder.build(*payload, 1)?, builder.build(*metadata, 1)?]);
            Ok((tuple, true))
        }
        _ => Ok((builder.build(top, 0)?, false)),
    }
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Id>,
    marks: Vec<usize>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.input.len());
        match end {
            Some(end) => {
                let slice = &self.input[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => {
                err(format!("truncated: {n} bytes wanted at offset {}, {} left", self.pos, self.input.len() - self.pos))
            }
        }
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len_u32(&mut self) -> Result<usize, PickleError> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        usize::try_from(u64::from_le_bytes(self.array()?)).or_else(|_| err("length out of range"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.input[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return err("unterminated line in GLOBAL");
        };
        let text = std::str::from_utf8(&rest[..end]).or_else(|_| err("GLOBAL name is not UTF-8"))?.to_owned();
        self.pos += end + 1;
        Ok(text)
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(self.nodes.len() - 1);
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return err("a value was taken across a MARK");
        }
        self.stack.pop().ok_or_else(|| PickleError("stack underflow".into()))
    }

    fn top(&self) -> Result<Id, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return err("a value was read across a MARK");
        }
        self.stack.last().copied().ok_or_else(|| PickleError("stack underflow".into()))
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| PickleError("no MARK to pop to".into()))?;
        Ok(self.stack.split_off(mark))
    }

    fn string(&mut self, len: usize) -> Result<(), PickleError> {
        let text = std::str::from_utf8(self.take(len)?).or_else(|_| err("a str is not valid UTF-8"))?.to_owned();
        self.push_node(Node::Leaf(Value::Str(text)));
        Ok(())
    }

    fn bytes(&mut self, len: usize) -> Result<(), PickleError> {
        let bytes = self.take(len)?.to_vec();
        self.push_node(Node::Leaf(Value::Bytes(bytes)));
        Ok(())
    }

    fn long(&mut self, len: usize) -> Result<(), PickleError> {
        let digits = self.take(len)?;
        let n = long_from_le(digits).ok_or_else(|| PickleError("an int does not fit in 128 bits".into()))?;
        self.push_node(Node::Leaf(Value::Int(n)));
        Ok(())
    }

    fn list_of(&mut self, id: Id) -> Result<&mut Vec<Id>, PickleError> {
        match &mut self.nodes[id] {
            Node::List(items) => Ok(items),
            _ => err("APPEND to something that is not a list"),
        }
    }

    fn dict_of(&mut self, id: Id) -> Result<&mut Vec<(Id, Id)>, PickleError> {
        match &mut self.nodes[id] {
            Node::Dict(pairs) => Ok(pairs),
            _ => err("SETITEM on something that is not a dict"),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let global = match (module, name) {
            ("dogpile.cache.api", "CachedValue") => Global::CachedValue,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("__builtin__" | "builtins", "bytes") => Global::Bytes,
            _ => {
                let shown: String = format!("{module}.{name}").chars().take(100).collect();
                return err(format!(
                    "refers to {shown}, which is not plain data (only None, bool, int, float, str, bytes, \
                     list, tuple and dict are decoded)"
                ));
            }
        };
        self.push_node(Node::Global(global));
        Ok(())
    }

    fn text_leaf(&self, id: Id) -> Option<&str> {
        match &self.nodes[id] {
            Node::Leaf(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// REDUCE and NEWOBJ of one of the known globals.
    fn call(&mut self) -> Result<(), PickleError> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let Node::Tuple(args) = &self.nodes[args] else {
            return err("call arguments are not a tuple");
        };
        let node = match (&self.nodes[callable], args.as_slice()) {
            (Node::Global(Global::CachedValue), &[payload, metadata]) => Node::CachedValue(payload, metadata),
            (Node::Global(Global::CodecsEncode), &[text, encoding])
                if matches!(self.text_leaf(encoding), Some("latin1" | "latin-1")) =>
            {
                let text = self.text_leaf(text).ok_or_else(|| PickleError("_codecs.encode of a non-str".into()))?;
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| PickleError("latin1 text with characters past U+00FF".into()))?;
                Node::Leaf(Value::Bytes(bytes))
            }
            (Node::Global(Global::Bytes), &[]) => Node::Leaf(Value::Bytes(Vec::new())),
            _ => return err("an object construction that is not plain data"),
        };
        self.push_node(node);
        Ok(())
    }

    fn run(&mut self) -> Result<Id, PickleError> {
        let mut memo: HashMap<usize, Id> = HashMap::new();
        loop {
            let code = self.byte()?;
            match code {
                op::PROTO => {
                    let version = self.byte()?;
                    if !(2..=5).contains(&version) {
                        return err(format!("protocol {version} (protocols 2 to 5 are read)"));
                    }
                }
                op::FRAME => {
                    self.take(8)?;
                }
                op::STOP => break,
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    self.pop()?;
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                op::NONE => self.push_node(Node::Leaf(Value::None)),
                op::NEWTRUE => self.push_node(Node::Leaf(Value::Bool(true))),
                op::NEWFALSE => self.push_node(Node::Leaf(Value::Bool(false))),
                op::BININT => {
                    let n = i32::from_le_bytes(self.array()?);
                    self.push_node(Node::Leaf(Value::Int(n.into())));
                }
                op::BININT1 => {
                    let n = self.byte()?;
                    self.push_node(Node::Leaf(Value::Int(n.into())));
                }
                op::BININT2 => {
                    let n = u16::from_le_bytes(self.array()?);
                    self.push_node(Node::Leaf(Value::Int(n.into())));
                }
                op::LONG1 => {
                    let len = usize::from(self.byte()?);
                    self.long(len)?;
                }
                op::LONG4 => {
                    let len = i32::from_le_bytes(self.array()?);
                    let len = usize::try_from(len).or_else(|_| err("negative LONG4 length"))?;
                    self.long(len)?;
                }
                op::BINFLOAT => {
                    let x = f64::from_be_bytes(self.array()?);
                    self.push_node(Node::Leaf(Value::Float(x)));
                }
                op::SHORT_BINUNICODE => {
                    let len = usize::from(self.byte()?);
                    self.string(len)?;
                }
                op::BINUNICODE => {
                    let len = self.len_u32()?;
                    self.string(len)?;
                }
                op::BINUNICODE8 => {
                    let len = self.len_u64()?;
                    self.string(len)?;
                }
                op::SHORT_BINBYTES => {
                    let len = usize::from(self.byte()?);
                    self.bytes(len)?;
                }
                op::BINBYTES => {
                    let len = self.len_u32()?;
                    self.bytes(len)?;
                }
                op::BINBYTES8 => {
                    let len = self.len_u64()?;
                    self.bytes(len)?;
                }
                op::EMPTY_LIST => self.push_node(Node::List(Vec::new())),
                op::EMPTY_TUPLE => self.push_node(Node::Tuple(Vec::new())),
                op::EMPTY_DICT => self.push_node(Node::Dict(Vec::new())),
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(code - op::TUPLE1 + 1);
                    let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                op::DICT => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return err("DICT with an odd number of items");
                    }
                    let pairs = items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                    self.push_node(Node::Dict(pairs));
                }
                op::APPEND => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.list_of(list)?.push(item);
                }
                op::APPENDS => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.list_of(list)?.extend(items);
                }
                op::SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.dict_of(dict)?.push((key, value));
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return err("SETITEMS with an odd number of items");
                    }
                    let dict = self.top()?;
                    self.dict_of(dict)?.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
                }
                op::BINPUT => {
                    let slot = usize::from(self.byte()?);
                    memo.insert(slot, self.top()?);
                }
                op::LONG_BINPUT => {
                    let slot = self.len_u32()?;
                    memo.insert(slot, self.top()?);
                }
                op::MEMOIZE => {
                    let slot = memo.len();
                    memo.insert(slot, self.top()?);
                }
                op::BINGET | op::LONG_BINGET => {
                    let slot = if code == op::BINGET { usize::from(self.byte()?) } else { self.len_u32()? };
                    let id = *memo.get(&slot).ok_or_else(|| PickleError(format!("memo slot {slot} is empty")))?;
                    self.stack.push(id);
                }
                op::GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.text_leaf(module), self.text_leaf(name)) else {
                        return err("STACK_GLOBAL of something that is not a str");
                    };
                    let (module, name) = (module.to_owned(), name.to_owned());
                    self.global(&module, &name)?;
                }
                op::REDUCE | op::NEWOBJ => self.call()?,
                other => {
                    return err(format!(
                        "opcode 0x{other:02x} at offset {} is not plain data or not of protocols 2 to 5",
                        self.pos - 1
                    ));
                }
            }
        }
        if self.pos != self.input.len() {
            return err(format!("{} bytes after STOP", self.input.len() - self.pos));
        }
        if !self.marks.is_empty() {
            return err("a MARK left open at STOP");
        }
        match self.stack.as_slice() {
            [top] => Ok(*top),
            [] => err("no value before STOP"),
            more => err(format!("{} values left at STOP", more.len())),
        }
    }
}

/// An integer from little-endian two's-complement bytes, if it fits in an `i128`.
fn long_from_le(digits: &[u8]) -> Option<i128> {
    let negative = digits.last().is_some_and(|&b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    // Leading sign bytes carry no value.
    let significant = digits.iter().rposition(|&b| b != fill).map_or(0, |i| i + 1);
    if significant > 16 || (significant == 16 && (digits[15] & 0x80 != 0) != negative) {
        return None;
    }
    let mut buf = [fill; 16];
    buf[..significant].copy_from_slice(&digits[..significant]);
    Some(i128::from_le_bytes(buf))
}

struct Builder<'a> {
    nodes: &'a [Node],
    visiting: Vec<bool>,
    budget: usize,
}

impl Builder<'_> {
    fn charge(&mut self, cost: usize) -> Result<(), PickleError> {
        match self.budget.checked_sub(cost) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => err("shared references expand beyond the size bound of a cached value"),
        }
    }

    fn build(&mut self, id: Id, depth: usize) -> Result<Value, PickleError> {
        if depth > MAX_DEPTH {
            return err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        if self.visiting[id] {
            return err("a reference cycle (a container that contains itself)");
        }
        let nodes = self.nodes;
        match &nodes[id] {
            Node::Leaf(value) => {
                let len = match value {
                    Value::Str(s) => s.len(),
                    Value::Bytes(b) => b.len(),
                    _ => 0,
                };
                self.charge(1 + len)?;
                Ok(value.clone())
            }
            Node::Global(_) => err("a reference to a class or function, not plain data"),
            Node::CachedValue(..) => err("a CachedValue inside a payload"),
            Node::List(items) => self.container(id, |b| Ok(Value::List(b.all(items, depth)?))),
            Node::Tuple(items) => self.container(id, |b| Ok(Value::Tuple(b.all(items, depth)?))),
            Node::Dict(pairs) => self.container(id, |b| {
                let built = pairs
                    .iter()
                    .map(|&(k, v)| Ok((b.build(k, depth + 1)?, b.build(v, depth + 1)?)))
                    .collect::<Result<_, PickleError>>()?;
                Ok(Value::Dict(built))
            }),
        }
    }

    /// Builds a container, marked as in progress so that a path back to it is a cycle.
    fn container(
        &mut self,
        id: Id,
        build: impl FnOnce(&mut Self) -> Result<Value, PickleError>,
    ) -> Result<Value, PickleError> {
        self.charge(1)?;
        self.visiting[id] = true;
        let value = build(self)?;
        self.visiting[id] = false;
        Ok(value)
    }

    fn all(&mut self, items: &[Id], depth: usize) -> Result<Vec<Value>, PickleError> {
        items.iter().map(|&item| self.build(item, depth + 1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs() {
        assert_eq!(long_from_le(&[]), Some(0));
        assert_eq!(long_from_le(&[0xff]), Some(-1));
        assert_eq!(long_from_le(&[0xff, 0x00]), Some(255));
        assert_eq!(long_from_le(&[0xff; 9]), Some(-1));
        let max = u64::MAX.to_le_bytes().into_iter().chain([0]).collect::<Vec<_>>();
        assert_eq!(long_from_le(&max), Some(u64::MAX.into()));
        assert_eq!(long_from_le(&i128::MAX.to_le_bytes()), Some(i128::MAX));
        assert_eq!(long_from_le(&i128::MIN.to_le_bytes()), Some(i128::MIN));
        let past = [0u8; 16].into_iter().chain([1]).collect::<Vec<_>>();
        assert_eq!(long_from_le(&past), None);
        let mut over = [0u8; 16];
        over[15] = 0x80;
        assert_eq!(long_from_le(&[&over[..], &[0]].concat()), None);
    }
}
