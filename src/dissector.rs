//! Wireshark dissectors for the generic framings: a `--frame` spec turned
//! into a Lua script that Wireshark (or tshark, with `-X lua_script:FILE`)
//! loads, so that a home-grown protocol gets Wireshark's reassembly,
//! filters, "Follow" and statistics.
//!
//! This module owns [`lua`], the generator. It does not frame anything
//! itself: the script carries its own framing code, written to cut the
//! bytes exactly where the decoders of [`crate::decode`] do (the same
//! length arithmetic and checks, the same shortest-frame rule for
//! delimiters), and `tests/wireshark.rs` holds the two against each other
//! on real captures.
//!
//! ```text
//! TCP payloads:  |seg 1 ......|seg 2 ....................|seg 3 ...|
//! script:        frame_len(offset) -> n      complete: one NAME tree with NAME.len = n
//!                                  -> need   pinfo.desegment_len: Wireshark
//!                                            reassembles and calls again
//! ```
//!
//! The script registers the protocol `NAME` on `tcp.port` (with `--port`)
//! and for Decode As; each message gets a `NAME` tree with `NAME.len` (its
//! length on the wire) and fields for its parts: `NAME.prefix`,
//! `NAME.length_field` and `NAME.body` for `length`; `NAME.header_len`,
//! `NAME.header`, `NAME.body_len`, `NAME.body` (and `NAME.label`) for
//! `json-header`; `NAME.data` and `NAME.delimiter` for delimiters;
//! `NAME.data` for `fixed` and `none`. A message the framing rejects gets
//! an expert note (`NAME.malformed`) and ends the dissection of that
//! segment. Protocol framings (`resp`, `http1`, ...) have dissectors of
//! their own in Wireshark and are refused.

use std::fmt::Write as _;

use crate::decode::json_header::JsonHeaderConfig;
use crate::decode::length::{Endian, LengthConfig, LengthField};
use crate::decode::spec::FrameSpec;

/// The protocol name used when none is given.
pub const DEFAULT_NAME: &str = "framescope";

/// Why no dissector can be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DissectorError {
    /// A protocol framing: Wireshark has its own dissector.
    #[error("{0} is a protocol framing; Wireshark dissects it itself (Decode As {0})")]
    Protocol(&'static str),
    /// A protocol name Wireshark would refuse.
    #[error(
        "protocol name {0:?} at character {1}: names are lowercase letters, digits, '_', '-' \
         and '.', starting with a letter"
    )]
    Name(String, usize),
    /// A decoder supplied by a library user: its rules live in its code.
    #[error("{0} is a decoder of the program's own; a dissector is generated from specs only")]
    Custom(String),
}

/// The Lua dissector for `spec`, named `name`, registered on TCP `port`
/// when given (and for Decode As always).
pub fn lua(spec: &FrameSpec, name: &str, port: Option<u16>) -> Result<String, DissectorError> {
    check_name(name)?;
    let framing = match spec {
        FrameSpec::None => Framing::None,
        FrameSpec::Delimiter(config) => Framing::Delimiter {
            delimiters: config.delimiters().to_vec(),
            max: config.max_frame,
        },
        FrameSpec::Length(config) => Framing::Length(config.clone()),
        FrameSpec::Fixed(size) => Framing::Fixed(size.get()),
        FrameSpec::JsonHeader(config) => Framing::JsonHeader(config.clone()),
        FrameSpec::Protocol { name, .. } => return Err(DissectorError::Protocol(name)),
        FrameSpec::Custom(_) => return Err(DissectorError::Custom(spec.to_string())),
    };
    let mut out = String::new();
    header(&mut out, spec, name, &framing);
    match &framing {
        Framing::None => none(&mut out),
        Framing::Fixed(size) => fixed(&mut out, *size),
        Framing::Delimiter { delimiters, max } => delimiter(&mut out, delimiters, *max),
        Framing::Length(config) => length(&mut out, config),
        Framing::JsonHeader(config) => json_header(&mut out, config),
    }
    footer(&mut out, name, port, &framing);
    Ok(out)
}

/// A framing the script can carry.
enum Framing {
    None,
    Fixed(u64),
    Delimiter { delimiters: Vec<Vec<u8>>, max: u64 },
    Length(LengthConfig),
    JsonHeader(JsonHeaderConfig),
}

fn check_name(name: &str) -> Result<(), DissectorError> {
    let bad = name.char_indices().find(|&(i, c)| {
        let letter = c.is_ascii_lowercase();
        !(letter || (i > 0 && (c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))))
    });
    match bad {
        Some((i, _)) => Err(DissectorError::Name(name.to_string(), i)),
        None if name.is_empty() => Err(DissectorError::Name(String::new(), 0)),
        None => Ok(()),
    }
}

/// A Lua string literal holding `bytes` exactly.
fn lua_str(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s.push('"');
    s
}

/// Lua numbers are doubles: integers are exact up to 2^53, far above any
/// frame size a decoder accepts.
fn lua_num(n: u64) -> String {
    n.min(1 << 53).to_string()
}

fn header(out: &mut String, spec: &FrameSpec, name: &str, framing: &Framing) {
    let spec_text = spec.to_string();
    let _ = write!(
        out,
        r#"-- Wireshark dissector for the framing {spec_text}, written by
-- `framescope dissector`. Load it with `wireshark -X lua_script:FILE` or
-- `tshark -X lua_script:FILE`, or copy it to Wireshark's personal Lua
-- plugins folder; then use Decode As (TCP port) {name}.

local proto = Proto({name_lit}, {desc_lit})
local DESEGMENT_MORE = DESEGMENT_ONE_MORE_SEGMENT

local f = {{
    len = ProtoField.uint64({len_field}, "Message length", base.DEC),
"#,
        name_lit = lua_str(name.as_bytes()),
        desc_lit = lua_str(format!("{name} ({spec_text}, by framescope)").as_bytes()),
        len_field = lua_str(format!("{name}.len").as_bytes()),
    );
    let field = |out: &mut String, key: &str, kind: &str, label: &str, base: &str| {
        let _ = writeln!(
            out,
            "    {key} = ProtoField.{kind}({}, {}{base}),",
            lua_str(format!("{name}.{key}").as_bytes()),
            lua_str(label.as_bytes()),
        );
    };
    match framing {
        Framing::None | Framing::Fixed(_) => field(out, "data", "bytes", "Data", ""),
        Framing::Delimiter { .. } => {
            field(out, "data", "bytes", "Data", "");
            field(out, "delimiter", "bytes", "Delimiter", "");
        }
        Framing::Length(config) => {
            field(out, "prefix", "bytes", "Bytes before the length field", "");
            let signed = matches!(config.field, LengthField::Binary { signed: true, .. });
            let kind = if signed { "int64" } else { "uint64" };
            field(out, "length_field", kind, "Length field", ", base.DEC");
            field(out, "body", "bytes", "Bytes after the length field", "");
        }
        Framing::JsonHeader(config) => {
            field(
                out,
                "header_len",
                "uint64",
                "JSON header length",
                ", base.DEC",
            );
            field(out, "header", "string", "JSON header", "");
            field(out, "body_len", "uint64", "Body length", ", base.DEC");
            field(out, "body", "bytes", "Body", "");
            if config.label_key.is_some() {
                field(out, "label", "string", "Label", "");
            }
        }
    }
    let _ = write!(
        out,
        r#"}}
local field_list = {{}}
for _, field in pairs(f) do table.insert(field_list, field) end
proto.fields = field_list

local malformed = ProtoExpert.new({expert}, "Malformed message",
    expert.group.MALFORMED, expert.severity.ERROR)
proto.experts = {{ malformed }}

-- An unsigned integer of `width` bytes at `offset`.
local function uint_at(tvb, offset, width, little)
    local r = tvb:range(offset, width)
    if width == 8 then
        if little then return r:le_uint64():tonumber() end
        return r:uint64():tonumber()
    end
    if little then return r:le_uint() end
    return r:uint()
end

-- The same, read as two's complement.
local function int_at(tvb, offset, width, little)
    if width == 8 then
        local r = tvb:range(offset, width)
        if little then return r:le_int64():tonumber() end
        return r:int64():tonumber()
    end
    local v = uint_at(tvb, offset, width, little)
    local top = 2 ^ (8 * width - 1)
    if v >= top then v = v - 2 * top end
    return v
end

"#,
        expert = lua_str(format!("{name}.malformed").as_bytes()),
    );
}

fn none(out: &mut String) {
    out.push_str(
        r#"-- none: each TCP segment is one message.
local function frame_len(tvb, offset)
    return tvb:len() - offset
end

local function parts(tvb, tree, offset, n)
    tree:add(f.data, tvb:range(offset, n))
end
"#,
    );
}

fn fixed(out: &mut String, size: u64) {
    let _ = write!(
        out,
        r#"-- fixed:{size}: records of {size} bytes.
local function frame_len(tvb, offset)
    return {n}
end

local function parts(tvb, tree, offset, n)
    tree:add(f.data, tvb:range(offset, n))
end
"#,
        n = lua_num(size)
    );
}

fn delimiter(out: &mut String, delimiters: &[Vec<u8>], max: u64) {
    let list: Vec<String> = delimiters.iter().map(|d| lua_str(d)).collect();
    let _ = write!(
        out,
        r#"-- Delimiters: a frame ends at the first byte where any delimiter is
-- complete (the shortest frame wins); where several complete on the same
-- byte, the longest is the frame's delimiter.
local DELIMITERS = {{ {list} }}
local MAX = {max}

local function find_end(tvb, offset)
    local rest = tvb:raw(offset)
    local best, best_len
    for _, d in ipairs(DELIMITERS) do
        local s, e = string.find(rest, d, 1, true)
        if s and (not best or e < best or (e == best and #d > best_len)) then
            best, best_len = e, #d
        end
    end
    return best, best_len
end

local function frame_len(tvb, offset)
    local e = find_end(tvb, offset)
    if e then
        if e > MAX then return nil, "frame longer than " .. MAX .. " bytes" end
        return e
    end
    if tvb:len() - offset > MAX then
        return nil, "no delimiter in " .. MAX .. " bytes"
    end
    return -1
end

local function parts(tvb, tree, offset, n)
    local e, len = find_end(tvb:range(offset, n):tvb(), 0)
    if n > len then tree:add(f.data, tvb:range(offset, n - len)) end
    tree:add(f.delimiter, tvb:range(offset + n - len, len))
end
"#,
        list = list.join(", "),
        max = lua_num(max),
    );
}

fn length(out: &mut String, c: &LengthConfig) {
    let field_code = match c.field {
        LengthField::Binary {
            width,
            endian,
            signed,
        } => {
            let w = width.bytes();
            let little = endian == Endian::Little;
            let read = if signed { "int_at" } else { "uint_at" };
            format!(
                r#"    if tvb:len() - at < {w} then return -1 end
    return {read}(tvb, at, {w}, {little}), {w}"#
            )
        }
        LengthField::Ascii { digits } => {
            let d = digits.get();
            format!(
                r#"    if tvb:len() - at < {d} then return -1 end
    local text = tvb:raw(at, {d})
    if not string.match(text, "^%d+$") then
        return nil, "ASCII length field holds a byte that is not a decimal digit"
    end
    return tonumber(text), {d}"#
            )
        }
        LengthField::Varint => r#"    local value, scale = 0, 1
    for i = 0, 9 do
        if at + i >= tvb:len() then return -1 end
        local b = tvb:range(at + i, 1):uint()
        value = value + (b % 128) * scale
        scale = scale * 128
        if b < 128 then
            if value >= 2 ^ 64 then return nil, "varint length field exceeds 64 bits" end
            return value, i + 1
        end
    end
    return nil, "varint length field is longer than 10 bytes""#
            .to_string(),
    };
    let _ = write!(
        out,
        r#"-- Length-prefixed, as Netty's LengthFieldBasedFrameDecoder: a frame is
-- offset + field + value + adjust bytes.
local OFFSET, ADJUST, STRIP, MAX = {offset}, {adjust}, {strip}, {max}
local LengthValue = {value_type}

-- The length field at `at`: its value and width; -1 when more bytes are
-- needed; nil and why when it is corrupt.
local function field(tvb, at)
{field_code}
end

local function frame_len(tvb, offset)
    local value, width = field(tvb, offset + OFFSET)
    if value == nil or value == -1 and width == nil then return value, width end
    if value < 0 then return nil, "negative length" end
    local field_end = OFFSET + width
    local n = value + ADJUST + field_end
    if n < field_end then
        return nil, "after adjustment the frame ends before its length field"
    end
    if n > MAX then return nil, "frame of " .. n .. " bytes, longer than " .. MAX end
    if n < STRIP then return nil, "the frame is shorter than the bytes to strip" end
    return n
end

local function parts(tvb, tree, offset, n)
    local value, width = field(tvb, offset + OFFSET)
    if OFFSET > 0 then tree:add(f.prefix, tvb:range(offset, OFFSET)) end
    tree:add(f.length_field, tvb:range(offset + OFFSET, width), LengthValue.new(value))
    local body = OFFSET + width
    if n > body then tree:add(f.body, tvb:range(offset + body, n - body)) end
end
"#,
        offset = lua_num(c.offset),
        value_type = if matches!(c.field, LengthField::Binary { signed: true, .. }) {
            "Int64"
        } else {
            "UInt64"
        },
        adjust = c.adjust,
        strip = lua_num(c.strip),
        max = lua_num(c.max_frame),
    );
}

fn json_header(out: &mut String, c: &JsonHeaderConfig) {
    let width = c.width.bytes();
    let little = c.endian == Endian::Little;
    let read = if c.signed { "int_at" } else { "uint_at" };
    let label = match &c.label_key {
        Some(key) => lua_str(key.as_bytes()),
        None => "nil".to_string(),
    };
    let _ = write!(
        out,
        r#"-- JSON header: a {width}-byte header length, a JSON header, then a body of
-- as many bytes as the header's size key says.
local WIDTH, MAX_HEADER, MAX = {width}, {max_header}, {max}
local SIZE_KEY, LABEL_KEY = {size_key}, {label}

-- The value of a top-level key of a JSON object, as its raw text.
local function top_level(text, wanted)
    local i, depth, n = 1, 0, #text
    local key, expect_value = nil, false
    while i <= n do
        local c = text:sub(i, i)
        if c == '"' then
            local j, buf = i + 1, {{}}
            while j <= n do
                local d = text:sub(j, j)
                if d == "\\" then
                    local e = text:sub(j + 1, j + 1)
                    local map = {{ n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" }}
                    table.insert(buf, map[e] or e)
                    j = j + 2
                elseif d == '"' then
                    break
                else
                    table.insert(buf, d)
                    j = j + 1
                end
            end
            local s = table.concat(buf)
            if depth == 1 and expect_value and key == wanted then return s, true end
            if depth == 1 and not expect_value then key = s end
            i = j + 1
        elseif c == "{{" or c == "[" then
            depth = depth + 1
            expect_value = false
            i = i + 1
        elseif c == "}}" or c == "]" then
            depth = depth - 1
            i = i + 1
        elseif c == ":" then
            expect_value = true
            i = i + 1
        elseif c == "," then
            expect_value = false
            i = i + 1
        elseif c:match("%s") then
            i = i + 1
        else
            local s, e = text:find("^[^,}}%]%s]+", i)
            if depth == 1 and expect_value and key == wanted then
                return text:sub(s, e), false
            end
            i = e + 1
        end
    end
    return nil
end

local function header_len(tvb, offset)
    if tvb:len() - offset < WIDTH then return -1 end
    local h = {read}(tvb, offset, WIDTH, {little})
    if h < 0 then return nil, "negative JSON header length" end
    if h == 0 then return nil, "empty JSON header" end
    if h > MAX_HEADER then return nil, "JSON header longer than " .. MAX_HEADER end
    if WIDTH + h > MAX then return nil, "frame longer than " .. MAX end
    return h
end

local function body_len(header)
    local raw, quoted = top_level(header, SIZE_KEY)
    if raw == nil or quoted or not raw:match("^%d+$") then
        return nil, "the JSON header has no non-negative integer " .. SIZE_KEY
    end
    return tonumber(raw)
end

local function frame_len(tvb, offset)
    local h, why = header_len(tvb, offset)
    if h == nil or h == -1 then return h, why end
    if tvb:len() - offset < WIDTH + h then return WIDTH + h end
    local b, why = body_len(tvb:raw(offset + WIDTH, h))
    if b == nil then return nil, why end
    local n = WIDTH + h + b
    if n > MAX then return nil, "frame of " .. n .. " bytes, longer than " .. MAX end
    return n
end

local function parts(tvb, tree, offset, n)
    local h = header_len(tvb, offset)
    local header = tvb:raw(offset + WIDTH, h)
    tree:add(f.header_len, tvb:range(offset, WIDTH), UInt64.new(h))
    tree:add(f.header, tvb:range(offset + WIDTH, h))
    local b = n - WIDTH - h
    tree:add(f.body_len, tvb:range(offset + WIDTH, h), UInt64.new(b))
    if b > 0 then tree:add(f.body, tvb:range(offset + WIDTH + h, b)) end
    if LABEL_KEY then
        local label = top_level(header, LABEL_KEY)
        if label then tree:add(f.label, tvb:range(offset + WIDTH, h), label) end
    end
end
"#,
        max_header = lua_num(c.max_header),
        max = lua_num(c.max_frame),
        size_key = lua_str(c.size_key.as_bytes()),
    );
}

fn footer(out: &mut String, name: &str, port: Option<u16>, framing: &Framing) {
    // Without framing, a segment is a message: nothing to reassemble.
    let reassemble = !matches!(framing, Framing::None);
    let _ = write!(
        out,
        r#"
-- Whole messages from `offset` on; asks Wireshark for more bytes when the
-- last one is incomplete.
function proto.dissector(tvb, pinfo, tree)
    local offset, total, count = 0, tvb:len(), 0
    while offset < total do
        local n, why = frame_len(tvb, offset)
        if n == nil then
            local item = tree:add(proto, tvb:range(offset))
            item:add_proto_expert_info(malformed, why)
            break
        end
        if n == -1 or offset + n > total then
            if not {reassemble} or not pinfo.can_desegment then break end
            pinfo.desegment_offset = offset
            if n == -1 then
                pinfo.desegment_len = DESEGMENT_MORE
            else
                pinfo.desegment_len = offset + n - total
            end
            break
        end
        local item = tree:add(proto, tvb:range(offset, n))
        item:add(f.len, tvb:range(offset, n), UInt64.new(n))
        parts(tvb, item, offset, n)
        item:append_text(", " .. n .. " bytes")
        count = count + 1
        offset = offset + n
    end
    if count > 0 then
        pinfo.cols.protocol = proto.name
        pinfo.cols.info = {name_lit} .. ": " .. count .. " message" .. (count > 1 and "s" or "")
    end
    return total
end

local tcp_port = DissectorTable.get("tcp.port")
tcp_port:add_for_decode_as(proto)
"#,
        name_lit = lua_str(name.as_bytes()),
    );
    if let Some(port) = port {
        let _ = writeln!(out, "tcp_port:add({port}, proto)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wireshark_would_refuse_are_refused() {
        let spec = FrameSpec::parse("length:4").unwrap();
        assert!(lua(&spec, "myproto", None).is_ok());
        assert!(lua(&spec, "my_proto.v2-x", None).is_ok());
        for (bad, at) in [("MyProto", 0), ("2x", 0), ("a b", 1), ("", 0)] {
            assert_eq!(
                lua(&spec, bad, None),
                Err(DissectorError::Name(bad.to_string(), at))
            );
        }
    }

    #[test]
    fn protocol_framings_are_left_to_wireshark() {
        let spec = FrameSpec::parse("resp").unwrap();
        assert_eq!(lua(&spec, "x", None), Err(DissectorError::Protocol("resp")));
    }

    #[test]
    fn delimiters_become_exact_lua_strings() {
        assert_eq!(lua_str(b"\r\n"), r#""\013\010""#);
        assert_eq!(lua_str(b"a\"\\\0"), r#""a\"\\\000""#);
        let spec = FrameSpec::parse("delim:\\r\\n|\\0").unwrap();
        let text = lua(&spec, "x", Some(7000)).unwrap();
        assert!(text.contains(r#"local DELIMITERS = { "\000", "\013\010" }"#));
        assert!(text.contains("tcp_port:add(7000, proto)"));
    }
}
