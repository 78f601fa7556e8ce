//! A reader for PyTorch checkpoints written by `torch.save` (the zip format,
//! PyTorch >= 1.6), such as the official `latest_net_G.pth`.
//!
//! The pickle inside is interpreted by a small stack machine that only builds
//! plain data: numbers, strings, tuples, lists, dicts and tensors. The only
//! callables it accepts are a fixed list (`collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, ...)
//! that it evaluates itself; any other global is refused with an error, so a
//! malicious checkpoint cannot run code.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::{Error, Result};

// Payloads are kept for error messages (Debug) even where unused.
#[allow(dead_code)]
#[derive(Debug, Clone)]
enum Value {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage { kind: Kind, key: String },
    Tensor(TensorRef),
}

#[derive(Debug, Clone)]
struct TensorRef {
    kind: Kind,
    key: String,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

fn storage_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        _ => return None,
    })
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

type PResult<T> = std::result::Result<T, String>;

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        if self.pos + n > self.data.len() {
            return Err("the pickle ends unexpectedly (truncated file?)".into());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn line(&mut self) -> PResult<String> {
        let start = self.pos;
        while self.pos < self.data.len() && self.data[self.pos] != b'\n' {
            self.pos += 1;
        }
        if self.pos >= self.data.len() {
            return Err("unterminated line in pickle".into());
        }
        let s = String::from_utf8_lossy(&self.data[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(s)
    }
    fn pop(&mut self) -> PResult<Value> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> PResult<Vec<Value>> {
        let idx = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(idx + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top(&mut self) -> PResult<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn str_of(&mut self, n: usize) -> PResult<Value> {
        let b = self.take(n)?;
        Ok(Value::Str(
            std::str::from_utf8(b)
                .map_err(|_| "invalid UTF-8 string in pickle")?
                .to_string(),
        ))
    }
    fn memoize(&mut self, idx: u32) -> PResult<()> {
        let v = self.stack.last().ok_or("memo of empty stack")?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }
    fn get(&mut self, idx: u32) -> PResult<()> {
        let v = self
            .memo
            .get(&idx)
            .ok_or_else(|| format!("pickle memo entry {idx} missing"))?
            .clone();
        self.stack.push(v);
        Ok(())
    }

    fn run(&mut self) -> PResult<Value> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is not supported"));
                    }
                }
                0x95 => {
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.stack.push(Value::Int(v))
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err("integer too large in pickle".into());
                    }
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)))
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.stack
                        .push(Value::Float(f64::from_be_bytes(b.try_into().unwrap())))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b))
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b))
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memoize(i)?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memoize(i)?
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memoize(i)?
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.get(i)?
                }
                b'j' => {
                    let i = self.u32()?;
                    self.get(i)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                0x85 => {
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a]))
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a, b]))
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a, b, c]))
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'a' => {
                    let v = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.push(v),
                        _ => return Err("APPEND to a non-list".into()),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(l) => l.extend(items),
                        _ => return Err("APPENDS to a non-list".into()),
                    }
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let mut d = Vec::new();
                    for kv in items.chunks(2) {
                        if kv.len() == 2 {
                            d.push((kv[0].clone(), kv[1].clone()));
                        }
                    }
                    self.stack.push(Value::Dict(d))
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        _ => return Err("SETITEM on a non-dict".into()),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::Dict(d) => {
                            for kv in items.chunks(2) {
                                if kv.len() == 2 {
                                    d.push((kv[0].clone(), kv[1].clone()));
                                }
                            }
                        }
                        _ => return Err("SETITEMS on a non-dict".into()),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent_load(pid)?;
                    self.stack.push(v)
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = reduce(func, args)?;
                    self.stack.push(v)
                }
                b'b' => {
                    // BUILD: set the state of the object below. The only objects we
                    // make are dicts (OrderedDict `_metadata`) and tensors, whose
                    // state we do not need.
                    let _state = self.pop()?;
                    match self.top()? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => return Err(format!("BUILD on unsupported object {other:?}")),
                    }
                }
                0x81 | 0x92 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    return Err(format!("refusing to instantiate {}", describe(&cls)));
                }
                b'i' | b'o' | b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'g' | b'p' => {
                    return Err(format!(
                        "text-protocol pickle opcode {:?} is not supported",
                        op as char
                    ))
                }
                other => return Err(format!("unknown pickle opcode 0x{other:02x}")),
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Global(m, n) => format!("{m}.{n}"),
        other => format!("{other:?}"),
    }
}

fn persistent_load(pid: Value) -> PResult<Value> {
    let items = match pid {
        Value::Tuple(items) => items,
        other => return Err(format!("unexpected persistent id {other:?}")),
    };
    match items.as_slice() {
        [Value::Str(tag), Value::Global(module, name), Value::Str(key), _location, ..]
            if tag == "storage" =>
        {
            if module != "torch" {
                return Err(format!("unknown storage type {module}.{name}"));
            }
            let kind = storage_kind(name)
                .ok_or_else(|| format!("unsupported storage type torch.{name}"))?;
            Ok(Value::Storage {
                kind,
                key: key.clone(),
            })
        }
        _ => Err(format!("unexpected persistent id {items:?}")),
    }
}

fn int_list(v: &Value) -> PResult<Vec<i64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(x) => Ok(*x),
                o => Err(format!("expected an integer, got {o:?}")),
            })
            .collect(),
        o => Err(format!("expected a tuple of integers, got {o:?}")),
    }
}

fn reduce(func: Value, args: Value) -> PResult<Value> {
    let (module, name) = match &func {
        Value::Global(m, n) => (m.as_str(), n.as_str()),
        other => return Err(format!("REDUCE on non-global {other:?}")),
    };
    let args = match args {
        Value::Tuple(a) => a,
        other => return Err(format!("REDUCE arguments are not a tuple: {other:?}")),
    };
    match (module, name) {
        ("collections", "OrderedDict") | ("builtins", "dict") => {
            if !args.is_empty() {
                return Err("OrderedDict with arguments is not supported".into());
            }
            Ok(Value::Dict(Vec::new()))
        }
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            if args.len() < 4 {
                return Err("_rebuild_tensor with too few arguments".into());
            }
            let (kind, key) = match &args[0] {
                Value::Storage { kind, key } => (*kind, key.clone()),
                o => return Err(format!("tensor without storage: {o:?}")),
            };
            let offset = match &args[1] {
                Value::Int(o) => *o,
                o => return Err(format!("bad storage offset {o:?}")),
            };
            let size = int_list(&args[2])?;
            let stride = int_list(&args[3])?;
            if size.len() != stride.len() {
                return Err("tensor size and stride differ in length".into());
            }
            Ok(Value::Tensor(TensorRef {
                kind,
                key,
                offset,
                size,
                stride,
            }))
        }
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            other => Err(format!("parameter without tensor: {other:?}")),
        },
        _ => Err(format!(
            "refusing to call `{module}.{name}` (only plain state_dicts of tensors are accepted)"
        )),
    }
}

/// A state_dict read from a PyTorch checkpoint: name → CPU tensor.
pub type StateDict = HashMap<String, Tensor>;

/// Reads a `torch.save`d state_dict (zip format). If the checkpoint is a dict
/// holding a state_dict under `state_dict`, `model`, `netG` or `generator`, that
/// inner dict is used.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_state_dict(path, &bytes)
}

pub(crate) fn parse_state_dict(path: &Path, bytes: &[u8]) -> Result<StateDict> {
    let not_ckpt = |reason: String| Error::NotCheckpoint {
        path: path.to_owned(),
        reason,
    };
    let unsupported = |reason: String| Error::UnsupportedPickle {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
        return Err(not_ckpt(
            "this is the legacy (pre-1.6) torch.save format; re-save it with \
             `torch.save(torch.load(f), f2)` in a current PyTorch"
                .into(),
        ));
    }
    if bytes.len() < 4 || &bytes[..4] != b"PK\x03\x04" {
        return Err(not_ckpt("not a zip archive written by torch.save".into()));
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| not_ckpt(format!("broken zip archive: {e}")))?;
    let pkl_name = zip
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.ends_with("data.pkl"))
        .map(|s| s.to_string())
        .ok_or_else(|| not_ckpt("the archive has no data.pkl".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let read_entry = |zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>, name: &str| {
        let mut f = zip
            .by_name(name)
            .map_err(|e| not_ckpt(format!("missing archive entry {name}: {e}")))?;
        let mut buf = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut buf)
            .map_err(|e| not_ckpt(format!("cannot read archive entry {name}: {e}")))?;
        Ok::<_, Error>(buf)
    };
    if let Ok(order) = read_entry(&mut zip, &format!("{prefix}byteorder")) {
        if order != b"little" {
            return Err(unsupported(format!(
                "byte order {} is not supported",
                String::from_utf8_lossy(&order)
            )));
        }
    }
    let pkl = read_entry(&mut zip, &pkl_name)?;
    let mut m = Machine {
        data: &pkl,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run().map_err(unsupported)?;
    let mut dict = match root {
        Value::Dict(d) => d,
        other => {
            return Err(unsupported(format!(
                "expected a state_dict (a dict of tensors), found {}",
                describe(&other)
            )))
        }
    };
    // A training checkpoint that wraps the state_dict.
    if !dict.iter().any(|(_, v)| matches!(v, Value::Tensor(_))) {
        let inner = dict.iter().find_map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Dict(d))
                if [
                    "state_dict",
                    "model",
                    "netG",
                    "generator",
                    "model_state_dict",
                ]
                .contains(&k.as_str()) =>
            {
                Some(d.clone())
            }
            _ => None,
        });
        match inner {
            Some(d) => dict = d,
            None => {
                return Err(unsupported(
                    "the checkpoint holds no tensors at its top level nor under \
                     `state_dict`/`model`/`netG`"
                        .into(),
                ))
            }
        }
    }
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    let mut out = HashMap::new();
    for (k, v) in dict {
        let name = match k {
            Value::Str(s) => s,
            other => return Err(unsupported(format!("non-string key {other:?}"))),
        };
        let t = match v {
            Value::Tensor(t) => t,
            // Non-tensor entries (e.g. a version number) are not part of a state_dict.
            _ => continue,
        };
        if !storages.contains_key(&t.key) {
            let raw = read_entry(&mut zip, &format!("{prefix}data/{}", t.key))?;
            let elt = t.kind.elt_size_in_bytes();
            if raw.len() % elt != 0 {
                return Err(not_ckpt(format!("storage {} has a partial element", t.key)));
            }
            let st = Tensor::f_from_data_size(&raw, &[(raw.len() / elt) as i64], t.kind)?;
            storages.insert(t.key.clone(), st);
        }
        let st = &storages[&t.key];
        let numel = st.size()[0];
        // Check the view lies inside its storage before making it.
        let mut last = t.offset;
        for (s, st_) in t.size.iter().zip(&t.stride) {
            if *s == 0 {
                last = -1;
                break;
            }
            last += (s - 1) * st_;
        }
        if t.offset < 0 || last >= numel || t.stride.iter().any(|&s| s < 0) {
            return Err(not_ckpt(format!(
                "tensor `{name}` lies outside its storage (truncated or corrupt file)"
            )));
        }
        let view = st
            .f_as_strided(&t.size, &t.stride, Some(t.offset))?
            .contiguous();
        out.insert(name, view);
    }
    Ok(out)
}
