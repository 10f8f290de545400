//! One load-time rewrite of a model's graph, before ONNX Runtime sees it: each `PRelu` as
//! operators ORT runs much faster, computing the same values to the bit. ORT's `PRelu` is a
//! broadcasting element-wise kernel that is not vectorised like its `Mul` or `Max`, is never
//! fused, and its NCHWc layout pass converts the tensor back to NCHW around every one. In ORT
//! 1.32's own profile (Python, one thread) reid-0095's 48 `PRelu`s took 11.5 of its 20.2 ms
//! and the reorders around them 2.6 ms more; MiniFASNet's 33 took about half of each model.
//! - A slope of one value is `LeakyRelu` with that `alpha` (`x >= 0 ? x : a * x`), which ORT
//!   fuses into the convolution before it (NCHWc included): reid-0095 ran in 6-7 ms.
//! - Slopes per channel, all at most 1, are `Max(x, Mul(x, slope))` ([`mul_max`]):
//!   MiniFASNetV2 ran in 2.3 ms instead of 4.4, V1SE likewise.
//!
//! The file on disk is untouched (its hash is checked before this).
//!
//! ONNX is protobuf, so this is a minimal protobuf walker: only the fields it reads are
//! decoded (`ModelProto.graph`, `GraphProto.node`/`initializer`/`input`, `NodeProto`'s inputs,
//! outputs, name, op type and domain, `TensorProto`'s shape, type and data); every other field is
//! copied as its bytes. Anything it does not understand leaves the model as it was. Why not a
//! protobuf crate: decoding into generated onnx.proto types needs protoc at build time and
//! re-encodes every field, where copying what is not rewritten keeps the rest of the file
//! byte-identical to the hashed one.

use std::collections::{HashMap, HashSet};

/// Protobuf wire types (encoding.md).
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Field numbers of onnx.proto (ONNX 1.x; stable since IR 3).
mod field {
    pub const MODEL_GRAPH: u32 = 7;
    pub const GRAPH_NODE: u32 = 1;
    pub const GRAPH_INITIALIZER: u32 = 5;
    pub const GRAPH_INPUT: u32 = 11;
    pub const NODE_INPUT: u32 = 1;
    pub const NODE_OUTPUT: u32 = 2;
    pub const NODE_NAME: u32 = 3;
    pub const NODE_OP_TYPE: u32 = 4;
    pub const NODE_ATTRIBUTE: u32 = 5;
    pub const NODE_DOMAIN: u32 = 7;
    pub const ATTRIBUTE_NAME: u32 = 1;
    pub const ATTRIBUTE_F: u32 = 2;
    pub const ATTRIBUTE_G: u32 = 6;
    pub const ATTRIBUTE_GRAPHS: u32 = 11;
    pub const ATTRIBUTE_TYPE: u32 = 20;
    pub const TENSOR_DIMS: u32 = 1;
    pub const TENSOR_DATA_TYPE: u32 = 2;
    pub const TENSOR_SEGMENT: u32 = 3;
    pub const TENSOR_FLOAT_DATA: u32 = 4;
    pub const TENSOR_NAME: u32 = 8;
    pub const TENSOR_RAW_DATA: u32 = 9;
    pub const TENSOR_DATA_LOCATION: u32 = 14;
    pub const VALUE_INFO_NAME: u32 = 1;
}

/// `TensorProto.DataType.FLOAT` and `AttributeProto.AttributeType.FLOAT`.
const FLOAT: u64 = 1;

/// One field of a message: its number, wire type, the whole encoding (tag included) and the
/// value (a length-delimited field's content, else the value's bytes).
struct Field<'a> {
    num: u32,
    wire: u8,
    raw: &'a [u8],
    value: &'a [u8],
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of one message, in order; `None` when it is not well-formed protobuf.
fn fields(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = read_varint(buf, &mut pos)?;
        let (num, wire) = (u32::try_from(tag >> 3).ok()?, (tag & 7) as u8);
        let value_start = pos;
        let value = match wire {
            VARINT => {
                read_varint(buf, &mut pos)?;
                &buf[value_start..pos]
            }
            FIXED64 | FIXED32 => {
                pos += if wire == FIXED64 { 8 } else { 4 };
                buf.get(value_start..pos)?
            }
            LEN => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).ok()?;
                let v = buf.get(pos..pos.checked_add(len)?)?;
                pos += len;
                v
            }
            // Groups (3, 4) are not used by onnx.proto.
            _ => return None,
        };
        out.push(Field {
            num,
            wire,
            raw: &buf[start..pos],
            value,
        });
    }
    Some(out)
}

fn varint_of(f: &Field) -> Option<u64> {
    (f.wire == VARINT)
        .then(|| read_varint(f.value, &mut 0))
        .flatten()
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_tag(out: &mut Vec<u8>, num: u32, wire: u8) {
    write_varint(out, (u64::from(num) << 3) | u64::from(wire));
}

fn write_len(out: &mut Vec<u8>, num: u32, value: &[u8]) {
    write_tag(out, num, LEN);
    write_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// The model with the `PRelu`s of its main graph rewritten (module docs): one slope value as
/// `LeakyRelu`, its slope dropped when nothing else reads it; slopes all at most 1 as `Mul` and
/// `Max`; any other left as it is. `None` when nothing was rewritten (or the model is not one
/// this walker reads), so the caller keeps the original bytes.
pub(crate) fn rewrite_prelus(model: &[u8]) -> Option<Vec<u8>> {
    let top = fields(model)?;
    let mut graphs = top
        .iter()
        .filter(|f| f.num == field::MODEL_GRAPH && f.wire == LEN);
    let graph = graphs.next()?;
    if graphs.next().is_some() {
        // Two graph fields are merged by protobuf's rules; not worth following.
        return None;
    }
    let new_graph = rewrite_graph(graph.value)?;
    let mut out = Vec::with_capacity(model.len());
    for f in &top {
        if f.num == field::MODEL_GRAPH && f.wire == LEN {
            write_len(&mut out, field::MODEL_GRAPH, &new_graph);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Some(out)
}

fn rewrite_graph(graph: &[u8]) -> Option<Vec<u8>> {
    let graph_fields = fields(graph)?;
    let mut slopes: HashMap<&[u8], Vec<f32>> = HashMap::new();
    let mut graph_inputs: HashSet<&[u8]> = HashSet::new();
    for f in &graph_fields {
        match (f.num, f.wire) {
            (field::GRAPH_INITIALIZER, LEN) => {
                if let Some((name, v)) = float_tensor(f.value) {
                    slopes.insert(name, v);
                }
            }
            (field::GRAPH_INPUT, LEN) => {
                // An initializer listed as an input (IR < 4) can be fed at run time: not a
                // constant, so never folded.
                for g in fields(f.value)? {
                    if g.num == field::VALUE_INFO_NAME && g.wire == LEN {
                        graph_inputs.insert(g.value);
                    }
                }
            }
            _ => {}
        }
    }
    slopes.retain(|name, _| !graph_inputs.contains(name));
    // Every node's outputs: a new name must be none of them.
    let mut outputs: HashSet<Vec<u8>> = HashSet::new();
    for f in &graph_fields {
        if f.num == field::GRAPH_NODE && f.wire == LEN {
            for g in fields(f.value)? {
                if g.num == field::NODE_OUTPUT && g.wire == LEN {
                    outputs.insert(g.value.to_vec());
                }
            }
        }
    }

    // Nodes rewritten (by index among the graph's fields) and the names still read.
    let mut new_nodes: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut read: HashSet<&[u8]> = HashSet::new();
    let mut has_subgraphs = false;
    // The slopes now an attribute: dropped below unless something else reads them.
    let mut folded: HashSet<&[u8]> = HashSet::new();
    for (i, f) in graph_fields.iter().enumerate() {
        if f.num != field::GRAPH_NODE || f.wire != LEN {
            continue;
        }
        let node = fields(f.value)?;
        let inputs: Vec<&[u8]> = node
            .iter()
            .filter(|g| g.num == field::NODE_INPUT && g.wire == LEN)
            .map(|g| g.value)
            .collect();
        let op = node
            .iter()
            .rfind(|g| g.num == field::NODE_OP_TYPE && g.wire == LEN)
            .map(|g| g.value);
        let domain = node
            .iter()
            .rfind(|g| g.num == field::NODE_DOMAIN && g.wire == LEN)
            .map_or(&b""[..], |g| g.value);
        has_subgraphs |= node
            .iter()
            .filter(|g| g.num == field::NODE_ATTRIBUTE && g.wire == LEN)
            .any(|g| {
                fields(g.value).is_none_or(|a| {
                    a.iter()
                        .any(|x| matches!(x.num, field::ATTRIBUTE_G | field::ATTRIBUTE_GRAPHS))
                })
            });
        let slope = match (op, domain, inputs.as_slice()) {
            (Some(b"PRelu"), b"" | b"ai.onnx", [_, s]) => slopes.get(s).map(Vec::as_slice),
            _ => None,
        };
        match slope {
            Some(&[alpha]) => {
                folded.insert(inputs[1]);
                read.insert(inputs[0]);
                new_nodes.insert(i, leaky_relu(&node, alpha));
            }
            Some(s)
                if s.iter().all(|&v| v <= 1.0)
                    && !outputs.contains(&product_name(&node))
                    && !slopes.contains_key(product_name(&node).as_slice()) =>
            {
                new_nodes.insert(i, mul_max(&node, inputs[1]));
                read.extend(inputs);
            }
            _ => read.extend(inputs),
        }
    }
    if new_nodes.is_empty() {
        return None;
    }

    let mut out = Vec::with_capacity(graph.len());
    for (i, f) in graph_fields.iter().enumerate() {
        if let Some(node) = new_nodes.get(&i) {
            // One node, or two (Mul, then Max), each already framed as a graph node.
            out.extend_from_slice(node);
            continue;
        }
        // A slope nothing reads any more is dropped (ORT would warn about each one); kept when
        // a subgraph might read it by name.
        let unread_slope = f.num == field::GRAPH_INITIALIZER
            && f.wire == LEN
            && !has_subgraphs
            && float_tensor(f.value)
                .is_some_and(|(name, _)| folded.contains(name) && !read.contains(name));
        if !unread_slope {
            out.extend_from_slice(f.raw);
        }
    }
    Some(out)
}

/// `node` (a `PRelu`) as `LeakyRelu` with `alpha`: its first input only, every other field
/// (outputs, name, domain, ...) as it was.
fn leaky_relu(node: &[Field], alpha: f32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first_input = true;
    for g in node {
        match (g.num, g.wire) {
            (field::NODE_INPUT, LEN) if !first_input => {}
            (field::NODE_INPUT, LEN) => {
                first_input = false;
                out.extend_from_slice(g.raw);
            }
            (field::NODE_OP_TYPE, LEN) => write_len(&mut out, field::NODE_OP_TYPE, b"LeakyRelu"),
            _ => out.extend_from_slice(g.raw),
        }
    }
    let mut attribute = Vec::new();
    write_len(&mut attribute, field::ATTRIBUTE_NAME, b"alpha");
    write_tag(&mut attribute, field::ATTRIBUTE_F, FIXED32);
    attribute.extend_from_slice(&alpha.to_le_bytes());
    write_tag(&mut attribute, field::ATTRIBUTE_TYPE, VARINT);
    write_varint(&mut attribute, FLOAT);
    write_len(&mut out, field::NODE_ATTRIBUTE, &attribute);
    let mut framed = Vec::new();
    write_len(&mut framed, field::GRAPH_NODE, &out);
    framed
}

/// `node` (a `PRelu` whose slopes are all at most 1) as `Max(x, Mul(x, slope))`, framed as
/// two graph nodes. Equal to the bit: where `x >= 0`, `slope * x <= x` so `Max` gives `x`;
/// where `x < 0`, `slope * x >= x` so it gives `slope * x`, the product `PRelu` computes.
/// The product's name is [`product_name`]'s, which the caller has checked is free.
fn mul_max(node: &[Field], slope: &[u8]) -> Vec<u8> {
    let product = product_name(node);
    let mut mul = Vec::new();
    for g in node {
        // The domain and the like are kept; PRelu has no attributes to carry.
        let own = matches!(
            g.num,
            field::NODE_INPUT
                | field::NODE_OUTPUT
                | field::NODE_NAME
                | field::NODE_OP_TYPE
                | field::NODE_ATTRIBUTE
        );
        if !(own && g.wire == LEN) {
            mul.extend_from_slice(g.raw);
        }
    }
    let first_input = node
        .iter()
        .find(|g| g.num == field::NODE_INPUT && g.wire == LEN)
        .map_or(&b""[..], |g| g.value);
    write_len(&mut mul, field::NODE_INPUT, first_input);
    write_len(&mut mul, field::NODE_INPUT, slope);
    write_len(&mut mul, field::NODE_OUTPUT, &product);
    write_len(&mut mul, field::NODE_NAME, &product);
    write_len(&mut mul, field::NODE_OP_TYPE, b"Mul");

    let mut max = Vec::new();
    let mut first = true;
    for g in node {
        match (g.num, g.wire) {
            (field::NODE_INPUT, LEN) if first => {
                first = false;
                max.extend_from_slice(g.raw);
                write_len(&mut max, field::NODE_INPUT, &product);
            }
            (field::NODE_INPUT, LEN) => {}
            (field::NODE_OP_TYPE, LEN) => write_len(&mut max, field::NODE_OP_TYPE, b"Max"),
            _ => max.extend_from_slice(g.raw),
        }
    }
    let mut framed = Vec::new();
    write_len(&mut framed, field::GRAPH_NODE, &mul);
    write_len(&mut framed, field::GRAPH_NODE, &max);
    framed
}

/// The name of the product in [`mul_max`]: the node's (first) output's, suffixed.
fn product_name(node: &[Field]) -> Vec<u8> {
    let output = node
        .iter()
        .find(|g| g.num == field::NODE_OUTPUT && g.wire == LEN)
        .map_or(&b""[..], |g| g.value);
    [output, b"/prelu_product"].concat()
}

/// A `TensorProto` of floats stored in the model: its name and values.
fn float_tensor(tensor: &[u8]) -> Option<(&[u8], Vec<f32>)> {
    let (mut name, mut data_type, mut elements) = (None, None, 1u64);
    let mut values: Vec<f32> = Vec::new();
    for f in fields(tensor)? {
        match (f.num, f.wire) {
            (field::TENSOR_DIMS, VARINT) => elements = elements.checked_mul(varint_of(&f)?)?,
            (field::TENSOR_DIMS, LEN) => {
                let mut pos = 0;
                while pos < f.value.len() {
                    elements = elements.checked_mul(read_varint(f.value, &mut pos)?)?;
                }
            }
            (field::TENSOR_DATA_TYPE, VARINT) => data_type = varint_of(&f),
            (field::TENSOR_NAME, LEN) => name = Some(f.value),
            (field::TENSOR_FLOAT_DATA, FIXED32) => {
                values.push(f32::from_le_bytes(f.value.try_into().ok()?))
            }
            (field::TENSOR_FLOAT_DATA, LEN) | (field::TENSOR_RAW_DATA, LEN) => values.extend(
                f.value
                    .chunks(4)
                    .map(|c| c.try_into().ok().map(f32::from_le_bytes))
                    .collect::<Option<Vec<f32>>>()?,
            ),
            // Data in another file, or a segment of a tensor: not a value read here.
            (field::TENSOR_DATA_LOCATION | field::TENSOR_SEGMENT, _) => return None,
            _ => {}
        }
    }
    match (name, data_type) {
        (Some(name), Some(FLOAT)) if values.len() as u64 == elements => Some((name, values)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(inputs: &[&str], op: &str) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            write_len(&mut n, field::NODE_INPUT, i.as_bytes());
        }
        write_len(&mut n, 2, b"y");
        write_len(&mut n, 3, b"node0");
        write_len(&mut n, field::NODE_OP_TYPE, op.as_bytes());
        n
    }

    fn tensor(name: &str, dims: &[u64], values: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        for d in dims {
            write_tag(&mut t, field::TENSOR_DIMS, VARINT);
            write_varint(&mut t, *d);
        }
        write_tag(&mut t, field::TENSOR_DATA_TYPE, VARINT);
        write_varint(&mut t, FLOAT);
        write_len(&mut t, field::TENSOR_NAME, name.as_bytes());
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_len(&mut t, field::TENSOR_RAW_DATA, &raw);
        t
    }

    fn model(nodes: &[Vec<u8>], initializers: &[Vec<u8>]) -> Vec<u8> {
        let mut g = Vec::new();
        for n in nodes {
            write_len(&mut g, field::GRAPH_NODE, n);
        }
        write_len(&mut g, 2, b"graph");
        for t in initializers {
            write_len(&mut g, field::GRAPH_INITIALIZER, t);
        }
        let mut m = Vec::new();
        write_tag(&mut m, 1, VARINT);
        write_varint(&mut m, 8);
        write_len(&mut m, field::MODEL_GRAPH, &g);
        m
    }

    #[test]
    fn a_single_slope_prelu_becomes_leaky_relu_and_its_slope_goes() {
        let m = model(
            &[node(&["x", "s"], "PRelu")],
            &[tensor("s", &[1], &[0.25]), tensor("w", &[2], &[1.0, 2.0])],
        );
        let out = rewrite_prelus(&m).expect("rewritten");
        let mut leaky = node(&["x"], "LeakyRelu");
        let mut attribute = Vec::new();
        write_len(&mut attribute, field::ATTRIBUTE_NAME, b"alpha");
        write_tag(&mut attribute, field::ATTRIBUTE_F, FIXED32);
        attribute.extend_from_slice(&0.25f32.to_le_bytes());
        write_tag(&mut attribute, field::ATTRIBUTE_TYPE, VARINT);
        write_varint(&mut attribute, FLOAT);
        write_len(&mut leaky, field::NODE_ATTRIBUTE, &attribute);
        assert_eq!(out, model(&[leaky], &[tensor("w", &[2], &[1.0, 2.0])]));
    }

    #[test]
    fn per_channel_slopes_up_to_one_become_mul_and_max() {
        let m = model(
            &[node(&["x", "s"], "PRelu")],
            &[tensor("s", &[2, 1, 1], &[0.25, 1.0])],
        );
        let out = rewrite_prelus(&m).expect("rewritten");
        let mut mul = Vec::new();
        write_len(&mut mul, field::NODE_INPUT, b"x");
        write_len(&mut mul, field::NODE_INPUT, b"s");
        write_len(&mut mul, field::NODE_OUTPUT, b"y/prelu_product");
        write_len(&mut mul, field::NODE_NAME, b"y/prelu_product");
        write_len(&mut mul, field::NODE_OP_TYPE, b"Mul");
        let max = node(&["x", "y/prelu_product"], "Max");
        assert_eq!(
            out,
            model(&[mul, max], &[tensor("s", &[2, 1, 1], &[0.25, 1.0])])
        );
    }

    #[test]
    fn a_slope_over_one_and_other_ops_are_left_alone() {
        let steep = model(
            &[node(&["x", "s"], "PRelu")],
            &[tensor("s", &[2, 1, 1], &[0.25, 1.5])],
        );
        assert!(rewrite_prelus(&steep).is_none());
        let relu = model(&[node(&["x"], "Relu")], &[]);
        assert!(rewrite_prelus(&relu).is_none());
        assert!(rewrite_prelus(b"\xff\xff not protobuf").is_none());
    }

    #[test]
    fn a_slope_another_node_reads_is_kept() {
        let m = model(
            &[node(&["x", "s"], "PRelu"), node(&["y", "s"], "Mul")],
            &[tensor("s", &[], &[0.25])],
        );
        let out = rewrite_prelus(&m).expect("rewritten");
        let graph = fields(&out)
            .unwrap()
            .into_iter()
            .find(|f| f.num == 7)
            .unwrap();
        let initializers = fields(graph.value)
            .unwrap()
            .into_iter()
            .filter(|f| f.num == field::GRAPH_INITIALIZER)
            .count();
        assert_eq!(initializers, 1);
    }
}
