//! The `--frame SPEC` language: parsing a framing specification and building
//! the pair of decoders (client direction, server direction) it describes.
//!
//! This module owns [`FrameSpec`], its parser, its canonical spelling
//! ([`FrameSpec`]'s `Display`, which parses back to the same value) and the
//! help text [`SPEC_HELP`]. It does not decode anything itself.
//!
//! # Grammar
//!
//! ```text
//! spec     = "none"
//!          | "line"        [ ":" opt { "," opt } ]           opt: strip | max=SIZE
//!          | "delim:" alts { "," opt }                       opt: strip | max=SIZE
//!          | "length"      [ ":" lopt { "," lopt } ]
//!          | "fixed:" SIZE
//!          | "json-header" [ ":" jopt { "," jopt } ]
//!          | PROTOCOL      [ ":max=" SIZE ]
//! alts     = delimiter { "|" delimiter }
//! delimiter= "0x" HEX HEX { HEX HEX }                        raw bytes: 0x0d0a
//!          | text with C escapes: \r \n \t \0 \\ \, \| \: \xHH
//! lopt     = WIDTH | width=WIDTH | ascii=DIGITS | varint      the length field
//!          | endian=big|little | signed | unsigned           (binary fields)
//!          | offset=N | adjust=[+|-]N | strip=N | max=SIZE
//! jopt     = width=4|8 | endian=little|big | signed | unsigned
//!          | key=NAME | label=NAME | max-header=SIZE | max=SIZE
//! WIDTH    = 1 | 2 | 3 | 4 | 8
//! SIZE, N  = DIGITS [ K | M | G ]                            1024-based: 64K, 16M
//! ```
//!
//! Defaults: `length` is a 4-byte big-endian unsigned length of the bytes
//! that follow it (`length` = `length:4`); `json-header` is a 4-byte
//! little-endian signed header length (Python's `struct.pack('i', n)` on
//! x86), a JSON header of at most 64K and a body of `total_size` bytes;
//! every `max` is [`DEFAULT_MAX_FRAME`] (16M). `line` is `delim:\n|\r\n`.
//! `NAME` values of `json-header` take the same escapes as delimiters. A
//! protocol is any name in [`proto::PROTOCOLS`].
//!
//! The `Display` form is canonical: defaults are left out and options come
//! in a fixed order (`length:signed,max=16M,2` prints as `length:2,signed`).
//!
//! Option order does not matter, except that the delimiters of `delim` and
//! the size of `fixed` come first; an option given twice, or options that
//! contradict each other (`ascii=4,endian=little`), are errors. Every error
//! names the character offset of the offending text.

use std::fmt;
use std::num::{NonZeroU64, NonZeroU8};
use std::sync::Arc;

use super::delimiter::{DelimiterConfig, DelimiterDecoder};
use super::fixed::FixedDecoder;
use super::json_header::{JsonHeaderConfig, JsonHeaderDecoder, PrefixWidth};
use super::length::{Endian, LengthConfig, LengthDecoder, LengthField, Width};
use super::none::NoneDecoder;
use super::{proto, DecodeError, DecodeErrorKind, Decoder, End, Step, DEFAULT_MAX_FRAME};
use crate::size::{parse_size, Size};

/// The help text for `--frame`, as the command line shows it.
pub const SPEC_HELP: &str = "\
Framing specs (--frame SPEC): where one message ends and the next begins.

  none                 each TCP segment or UDP datagram is one message
  line[:OPTS]          lines ending in \\n or \\r\\n
  delim:D1|D2[,OPTS]   messages end with any of the delimiters; the shortest
                       frame wins. D is text with C escapes (\\r \\n \\t \\0 \\\\
                       \\, \\| \\xHH) or hex bytes (0x0d0a)
    OPTS: strip        consumers see messages without their delimiter
          max=SIZE     largest frame, delimiter included (default 16M)
  length[:OPTS]        length-prefixed, as Netty's LengthFieldBasedFrameDecoder;
                       frame = offset + field + value + adjust bytes
    OPTS: 1|2|3|4|8    binary length field width (default 4), or width=W
          ascii=N      N zero-padded ASCII decimal digits (ISO 8583 style)
          varint       protobuf base-128 varint (at most 10 bytes)
          endian=big|little   byte order of a binary field (default big)
          signed|unsigned     binary field signedness (default unsigned)
          offset=N     bytes before the length field (lengthFieldOffset)
          adjust=N     added to the value, may be negative (lengthAdjustment)
          strip=N      bytes consumers drop from each frame (initialBytesToStrip)
          max=SIZE     largest frame, header included (default 16M)
  fixed:N              records of exactly N bytes
  json-header[:OPTS]   header length, JSON header, body of header[key] bytes
    OPTS: width=4|8    header length width (default 4)
          endian=little|big   (default little)
          signed|unsigned     (default signed, as Python struct.pack('i'))
          key=NAME     header key with the body size (default total_size)
          label=NAME   header key whose value labels each message
          max-header=SIZE     largest JSON header (default 64K)
          max=SIZE     largest frame (default 16M)
  PROTOCOL[:max=SIZE]  a protocol by name (see the list of protocols)

SIZE is a number with an optional K, M or G suffix (1024-based): 512, 64K, 16M.
Examples: length:2   length:width=2,endian=little,offset=1,adjust=-3,strip=3
          length:ascii=4   length:varint   delim:\\r\\n|\\n,strip,max=8K
          line:max=64K   fixed:188   json-header:width=8,endian=big,key=size
";

/// A parsed `--frame` specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameSpec {
    /// No framing: each segment (or datagram) is one message.
    None,
    /// Delimiter framing (`line`, `delim:...`).
    Delimiter(DelimiterConfig),
    /// Length-prefixed framing (`length...`).
    Length(LengthConfig),
    /// Fixed-size records (`fixed:N`).
    Fixed(NonZeroU64),
    /// A fixed-width length, a JSON header and a body (`json-header...`).
    JsonHeader(JsonHeaderConfig),
    /// A protocol from the registry ([`proto::PROTOCOLS`]).
    Protocol {
        /// The protocol's name, as registered.
        name: &'static str,
        /// The largest frame accepted.
        max: u64,
    },
    /// A framing written outside framescope (never parsed from a string).
    Custom(Custom),
}

/// A framing written outside framescope: makes the decoders of each stream,
/// so that a decoder of one's own gets the whole analysis (message map,
/// flags, `recv()` simulation, reports).
///
/// ```
/// use std::sync::Arc;
/// use framescope::decode::none::NoneDecoder;
/// use framescope::decode::spec::{Custom, DecoderFactory, FrameSpec};
/// use framescope::decode::{Decoder, DEFAULT_MAX_FRAME};
///
/// struct Segments;
///
/// impl DecoderFactory for Segments {
///     fn name(&self) -> &str {
///         "segments"
///     }
///     fn decoders(&self) -> [Box<dyn Decoder>; 2] {
///         [Box::new(NoneDecoder), Box::new(NoneDecoder)]
///     }
///     fn max_frame(&self) -> u64 {
///         DEFAULT_MAX_FRAME
///     }
/// }
///
/// let spec = FrameSpec::Custom(Custom::new(Segments));
/// assert_eq!(spec.to_string(), "segments");
/// let options = framescope::analysis::Options {
///     framing: spec,
///     ..Default::default()
/// };
/// # let _ = options;
/// ```
pub trait DecoderFactory: Send + Sync {
    /// A short name, shown where a `--frame` spec would be.
    fn name(&self) -> &str;
    /// Fresh decoders for one stream: `[client, server]`.
    fn decoders(&self) -> [Box<dyn Decoder>; 2];
    /// The largest message the decoders accept.
    fn max_frame(&self) -> u64;
}

/// A shared [`DecoderFactory`]: two are equal when they are the same one.
#[derive(Clone)]
pub struct Custom(pub Arc<dyn DecoderFactory>);

impl Custom {
    /// Wraps `factory`.
    pub fn new(factory: impl DecoderFactory + 'static) -> Self {
        Custom(Arc::new(factory))
    }
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Custom").field(&self.0.name()).finish()
    }
}

impl PartialEq for Custom {
    fn eq(&self, other: &Custom) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Custom {}

/// A `--frame` string that does not parse: what and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid frame spec {spec:?} at character {at}: {why}")]
pub struct SpecError {
    /// The whole specification as given.
    pub spec: String,
    /// Character offset of the problem within `spec`.
    pub at: usize,
    /// What is wrong.
    pub why: String,
}

impl FrameSpec {
    /// Parses a `--frame` string (see the module documentation for the
    /// grammar).
    pub fn parse(spec: &str) -> Result<FrameSpec, SpecError> {
        Parser { spec }.parse()
    }

    /// Builds fresh decoders for one stream: `[client, server]`.
    pub fn decoders(&self) -> [Box<dyn Decoder>; 2] {
        match self {
            FrameSpec::None => [Box::new(NoneDecoder), Box::new(NoneDecoder)],
            FrameSpec::Delimiter(config) => [
                Box::new(DelimiterDecoder::new(config.clone())),
                Box::new(DelimiterDecoder::new(config.clone())),
            ],
            FrameSpec::Length(config) => [
                Box::new(LengthDecoder::new(config.clone())),
                Box::new(LengthDecoder::new(config.clone())),
            ],
            FrameSpec::Fixed(size) => [
                Box::new(FixedDecoder::new(*size)),
                Box::new(FixedDecoder::new(*size)),
            ],
            FrameSpec::JsonHeader(config) => [
                Box::new(JsonHeaderDecoder::new(config.clone())),
                Box::new(JsonHeaderDecoder::new(config.clone())),
            ],
            FrameSpec::Protocol { name, max } => proto::build(name, *max).unwrap_or_else(|| {
                [
                    Box::new(Unbuilt::new(name, *max)),
                    Box::new(Unbuilt::new(name, *max)),
                ]
            }),
            FrameSpec::Custom(custom) => custom.0.decoders(),
        }
    }

    /// The scan that finds this framing's messages ahead of the analysis
    /// ([`super::ahead`]), when it has one.
    pub fn scan_ahead(&self) -> Option<super::ahead::Scan> {
        match self {
            FrameSpec::Protocol { name, .. } => proto::scan_ahead(name),
            _ => None,
        }
    }

    /// The largest frame the decoders accept.
    pub fn max_frame(&self) -> u64 {
        match self {
            FrameSpec::None => DEFAULT_MAX_FRAME,
            FrameSpec::Delimiter(config) => config.max_frame,
            FrameSpec::Length(config) => config.max_frame,
            FrameSpec::Fixed(size) => size.get(),
            FrameSpec::JsonHeader(config) => config.max_frame,
            FrameSpec::Protocol { max, .. } => *max,
            FrameSpec::Custom(custom) => custom.0.max_frame(),
        }
    }
}

/// Stands in for a protocol the registry cannot build (a
/// [`FrameSpec::Protocol`] made by hand with an unknown name): it fails on
/// the first byte instead of framing silently.
struct Unbuilt {
    error: DecodeError,
    max: u64,
    fed: bool,
}

impl Unbuilt {
    fn new(name: &str, max: u64) -> Unbuilt {
        let why = format!("no decoder for protocol {name:?}");
        Unbuilt {
            error: DecodeError::new(0, DecodeErrorKind::Protocol(why)),
            max,
            fed: false,
        }
    }
}

impl Decoder for Unbuilt {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        self.fed |= !input.is_empty();
        if self.fed {
            Err(self.error.clone())
        } else {
            Ok(Step::NeedMore)
        }
    }

    fn finish(&mut self) -> End {
        if self.fed {
            End::Truncated { missing: None }
        } else {
            End::Clean
        }
    }

    fn max_frame(&self) -> u64 {
        self.max
    }
}

/// One comma-separated item of a spec: `key` or `key=value`, with byte
/// offsets into the spec.
#[derive(Clone, Copy, Debug)]
struct Opt<'a> {
    at: usize,
    key: &'a str,
    value: Option<(usize, &'a str)>,
}

impl<'a> Opt<'a> {
    fn new(at: usize, text: &'a str) -> Opt<'a> {
        match text.split_once('=') {
            Some((key, value)) => Opt {
                at,
                key,
                value: Some((at + key.len() + 1, value)),
            },
            None => Opt {
                at,
                key: text,
                value: None,
            },
        }
    }
}

struct Parser<'a> {
    spec: &'a str,
}

impl<'a> Parser<'a> {
    fn error(&self, at: usize, why: impl Into<String>) -> SpecError {
        let chars = self.spec.get(..at).map_or(at, |s| s.chars().count());
        SpecError {
            spec: self.spec.to_string(),
            at: chars,
            why: why.into(),
        }
    }

    fn parse(&self) -> Result<FrameSpec, SpecError> {
        let (name, items) = match self.spec.split_once(':') {
            Some((name, rest)) => (name, split_unescaped(rest, name.len() + 1, ',')),
            None => (self.spec, Vec::new()),
        };
        if let Some(&(at, _)) = items.iter().find(|(_, text)| text.is_empty()) {
            return Err(self.error(at, "empty option"));
        }
        match name {
            "none" => match items.first() {
                Some(&(at, _)) => Err(self.error(at, "none takes no options")),
                None => Ok(FrameSpec::None),
            },
            "line" => self.delimiter(DelimiterConfig::line(), &items),
            "delim" => {
                let Some((&(at, alts), rest)) = items.split_first() else {
                    let at = self.spec.len();
                    return Err(self.error(at, "delim needs delimiters: delim:\\r\\n|\\n"));
                };
                let mut delimiters = Vec::new();
                for (at, alt) in split_unescaped(alts, at, '|') {
                    delimiters.push(self.delimiter_bytes(at, alt)?);
                }
                let config =
                    DelimiterConfig::new(delimiters).map_err(|e| self.error(at, e.to_string()))?;
                self.delimiter(config, rest)
            }
            "length" => self.length(&items),
            "fixed" => match items.as_slice() {
                [(at, size)] => {
                    let size = self.size(*at, size)?;
                    NonZeroU64::new(size)
                        .map(FrameSpec::Fixed)
                        .ok_or_else(|| self.error(*at, "a record has at least 1 byte"))
                }
                [] => Err(self.error(self.spec.len(), "fixed needs a size: fixed:N")),
                [_, (at, _), ..] => Err(self.error(*at, "fixed takes only a size")),
            },
            "json-header" => self.json_header(&items),
            _ => match proto::PROTOCOLS.iter().find(|p| p.name == name) {
                Some(protocol) => self.protocol(protocol.name, &items),
                None => {
                    let mut known = String::from("none, line, delim, length, fixed, json-header");
                    for protocol in proto::PROTOCOLS {
                        known.push_str(", ");
                        known.push_str(protocol.name);
                    }
                    Err(self.error(0, format!("unknown framing {name:?}; known: {known}")))
                }
            },
        }
    }

    /// Checks that no option is given twice: `group` names options that
    /// exclude each other.
    fn once(
        &self,
        seen: &mut Vec<&'static str>,
        group: &'static str,
        opt: Opt,
    ) -> Result<(), SpecError> {
        if seen.contains(&group) {
            return Err(self.error(
                opt.at,
                format!("{} repeats or contradicts an earlier option", opt.key),
            ));
        }
        seen.push(group);
        Ok(())
    }

    fn flag(&self, opt: Opt) -> Result<(), SpecError> {
        match opt.value {
            Some((at, _)) => Err(self.error(at - 1, format!("{} takes no value", opt.key))),
            None => Ok(()),
        }
    }

    fn value(&self, opt: Opt<'a>) -> Result<(usize, &'a str), SpecError> {
        opt.value.ok_or_else(|| {
            self.error(
                opt.at,
                format!("{} needs a value: {}=...", opt.key, opt.key),
            )
        })
    }

    fn unknown(&self, opt: Opt, known: &str) -> SpecError {
        self.error(
            opt.at,
            format!("unknown option {:?}; expected {known}", opt.key),
        )
    }

    fn delimiter(
        &self,
        mut config: DelimiterConfig,
        items: &[(usize, &'a str)],
    ) -> Result<FrameSpec, SpecError> {
        let mut seen = Vec::new();
        for &(at, text) in items {
            let opt = Opt::new(at, text);
            match opt.key {
                "strip" => {
                    self.once(&mut seen, "strip", opt)?;
                    self.flag(opt)?;
                    config.strip = true;
                }
                "max" => {
                    self.once(&mut seen, "max", opt)?;
                    config.max_frame = self.max(opt)?;
                }
                _ => return Err(self.unknown(opt, "strip or max=SIZE")),
            }
        }
        Ok(FrameSpec::Delimiter(config))
    }

    fn length(&self, items: &[(usize, &'a str)]) -> Result<FrameSpec, SpecError> {
        let mut config = LengthConfig::new(LengthField::big_endian(Width::W4));
        let mut width = Width::W4;
        let mut endian = None;
        let mut signed = None;
        let mut seen = Vec::new();
        for &(at, text) in items {
            let opt = Opt::new(at, text);
            if opt.value.is_none() && text.bytes().all(|b| b.is_ascii_digit()) {
                self.once(&mut seen, "field", opt)?;
                width = self.width(at, text)?;
                continue;
            }
            match opt.key {
                "width" => {
                    self.once(&mut seen, "field", opt)?;
                    let (at, value) = self.value(opt)?;
                    width = self.width(at, value)?;
                }
                "ascii" => {
                    self.once(&mut seen, "field", opt)?;
                    let (at, value) = self.value(opt)?;
                    let digits = value
                        .parse::<u8>()
                        .ok()
                        .filter(|d| (1..=20).contains(d))
                        .and_then(NonZeroU8::new)
                        .ok_or_else(|| self.error(at, "ascii takes 1 to 20 digits"))?;
                    config.field = LengthField::Ascii { digits };
                }
                "varint" => {
                    self.once(&mut seen, "field", opt)?;
                    self.flag(opt)?;
                    config.field = LengthField::Varint;
                }
                "endian" => {
                    self.once(&mut seen, "endian", opt)?;
                    endian = Some((opt.at, self.endian(opt)?));
                }
                "signed" | "unsigned" => {
                    self.once(&mut seen, "signed", opt)?;
                    self.flag(opt)?;
                    signed = Some((opt.at, opt.key == "signed"));
                }
                "offset" => {
                    self.once(&mut seen, "offset", opt)?;
                    let (at, value) = self.value(opt)?;
                    config.offset = self.size(at, value)?;
                }
                "adjust" => {
                    self.once(&mut seen, "adjust", opt)?;
                    let (at, value) = self.value(opt)?;
                    config.adjust = self.signed_size(at, value)?;
                }
                "strip" => {
                    self.once(&mut seen, "strip", opt)?;
                    let (at, value) = self.value(opt)?;
                    config.strip = self.size(at, value)?;
                }
                "max" => {
                    self.once(&mut seen, "max", opt)?;
                    config.max_frame = self.max(opt)?;
                }
                _ => {
                    return Err(self.unknown(
                        opt,
                        "a width, width=, ascii=, varint, endian=, signed, unsigned, offset=, adjust=, strip= or max=",
                    ))
                }
            }
        }
        if let LengthField::Binary { .. } = config.field {
            config.field = LengthField::Binary {
                width,
                endian: endian.map_or(Endian::Big, |(_, e)| e),
                signed: signed.is_some_and(|(_, s)| s),
            };
        } else if let Some((at, _)) = endian.or(signed.map(|(at, _)| (at, Endian::Big))) {
            return Err(self.error(
                at,
                "endian and signedness apply to binary length fields only",
            ));
        }
        Ok(FrameSpec::Length(config))
    }

    fn json_header(&self, items: &[(usize, &'a str)]) -> Result<FrameSpec, SpecError> {
        let mut config = JsonHeaderConfig::default();
        let mut seen = Vec::new();
        for &(at, text) in items {
            let opt = Opt::new(at, text);
            match opt.key {
                "width" => {
                    self.once(&mut seen, "width", opt)?;
                    config.width = match self.value(opt)? {
                        (_, "4") => PrefixWidth::Four,
                        (_, "8") => PrefixWidth::Eight,
                        (at, _) => return Err(self.error(at, "width is 4 or 8")),
                    };
                }
                "endian" => {
                    self.once(&mut seen, "endian", opt)?;
                    config.endian = self.endian(opt)?;
                }
                "signed" | "unsigned" => {
                    self.once(&mut seen, "signed", opt)?;
                    self.flag(opt)?;
                    config.signed = opt.key == "signed";
                }
                "key" => {
                    self.once(&mut seen, "key", opt)?;
                    config.size_key = self.name(opt)?;
                }
                "label" => {
                    self.once(&mut seen, "label", opt)?;
                    config.label_key = Some(self.name(opt)?);
                }
                "max-header" => {
                    self.once(&mut seen, "max-header", opt)?;
                    config.max_header = self.max(opt)?;
                }
                "max" => {
                    self.once(&mut seen, "max", opt)?;
                    config.max_frame = self.max(opt)?;
                }
                _ => {
                    return Err(self.unknown(
                        opt,
                        "width=, endian=, signed, unsigned, key=, label=, max-header= or max=",
                    ))
                }
            }
        }
        Ok(FrameSpec::JsonHeader(config))
    }

    fn protocol(
        &self,
        name: &'static str,
        items: &[(usize, &'a str)],
    ) -> Result<FrameSpec, SpecError> {
        let mut max = DEFAULT_MAX_FRAME;
        let mut seen = Vec::new();
        for &(at, text) in items {
            let opt = Opt::new(at, text);
            match opt.key {
                "max" => {
                    self.once(&mut seen, "max", opt)?;
                    max = self.max(opt)?;
                }
                _ => return Err(self.unknown(opt, "max=SIZE")),
            }
        }
        Ok(FrameSpec::Protocol { name, max })
    }

    fn width(&self, at: usize, text: &str) -> Result<Width, SpecError> {
        text.parse()
            .ok()
            .and_then(Width::from_bytes)
            .ok_or_else(|| self.error(at, "a length field is 1, 2, 3, 4 or 8 bytes wide"))
    }

    fn endian(&self, opt: Opt) -> Result<Endian, SpecError> {
        match self.value(opt)? {
            (_, "big") => Ok(Endian::Big),
            (_, "little") => Ok(Endian::Little),
            (at, _) => Err(self.error(at, "endian is big or little")),
        }
    }

    fn max(&self, opt: Opt) -> Result<u64, SpecError> {
        let (at, value) = self.value(opt)?;
        match self.size(at, value)? {
            0 => Err(self.error(at, "a maximum of 0 bytes admits nothing")),
            max => Ok(max),
        }
    }

    fn name(&self, opt: Opt) -> Result<String, SpecError> {
        let (at, value) = self.value(opt)?;
        let bytes = self.unescape(at, value)?;
        match String::from_utf8(bytes) {
            Ok(name) if !name.is_empty() => Ok(name),
            Ok(_) => Err(self.error(at, format!("{} needs a non-empty name", opt.key))),
            Err(_) => Err(self.error(at, "a key name must be UTF-8")),
        }
    }

    /// `DIGITS [K|M|G]`, 1024-based ([`parse_size`]).
    fn size(&self, at: usize, text: &str) -> Result<u64, SpecError> {
        parse_size(text).map_err(|e| self.error(at, e.to_string()))
    }

    /// `[+|-]SIZE`, within an i64.
    fn signed_size(&self, at: usize, text: &str) -> Result<i64, SpecError> {
        let (negative, magnitude, digits_at) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..], at + 1),
            Some(b'+') => (false, &text[1..], at + 1),
            _ => (false, text, at),
        };
        let magnitude = i128::from(self.size(digits_at, magnitude)?);
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value).map_err(|_| self.error(at, format!("{text:?} is out of range")))
    }

    fn delimiter_bytes(&self, at: usize, text: &str) -> Result<Vec<u8>, SpecError> {
        if text.is_empty() {
            return Err(self.error(at, "empty delimiter"));
        }
        let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
            return self.unescape(at, text);
        };
        let digits = hex.as_bytes();
        if digits.is_empty() || digits.len() % 2 != 0 {
            return Err(self.error(
                at,
                "a hex delimiter has an even number of hex digits: 0x0d0a",
            ));
        }
        digits
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| self.error(at + 2 + 2 * i, "not a hex byte"))
            })
            .collect()
    }

    /// Resolves C escapes: `\r \n \t \0 \\ \, \| \: \xHH`.
    fn unescape(&self, at: usize, text: &str) -> Result<Vec<u8>, SpecError> {
        let mut out = Vec::with_capacity(text.len());
        let mut chars = text.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let byte = match chars.next() {
                Some((_, 'r')) => b'\r',
                Some((_, 'n')) => b'\n',
                Some((_, 't')) => b'\t',
                Some((_, '0')) => 0,
                Some((_, '\\')) => b'\\',
                Some((_, ',')) => b',',
                Some((_, '|')) => b'|',
                Some((_, ':')) => b':',
                Some((_, 'x')) => {
                    let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                    match u8::from_str_radix(&hex, 16) {
                        Ok(byte) if hex.len() == 2 => byte,
                        _ => return Err(self.error(at + i, "\\x needs two hex digits")),
                    }
                }
                Some((_, other)) => {
                    return Err(self.error(at + i, format!("unknown escape \\{other}")))
                }
                None => return Err(self.error(at + i, "a lone \\ ends the text")),
            };
            out.push(byte);
        }
        Ok(out)
    }
}

/// Splits `text` (which starts at byte `base` of the spec) on `sep` where it
/// is not escaped by a backslash; returns each piece with its byte offset.
fn split_unescaped(text: &str, base: usize, sep: char) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            pieces.push((base + start, &text[start..i]));
            start = i + c.len_utf8();
        }
    }
    pieces.push((base + start, &text[start..]));
    pieces
}

/// Bytes written so that [`Parser::unescape`] gives them back: printable
/// ASCII as is, separators and other bytes escaped. With `hex_guard`, a
/// leading `0x` is escaped so that it does not read as a hex delimiter.
struct Escaped<'a> {
    bytes: &'a [u8],
    hex_guard: bool,
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &byte) in self.bytes.iter().enumerate() {
            match byte {
                b'\r' => f.write_str("\\r")?,
                b'\n' => f.write_str("\\n")?,
                b'\t' => f.write_str("\\t")?,
                0 => f.write_str("\\0")?,
                b'\\' | b',' | b'|' | b':' => write!(f, "\\{}", char::from(byte))?,
                b'0' if i == 0
                    && self.hex_guard
                    && matches!(self.bytes.get(1), Some(b'x' | b'X')) =>
                {
                    f.write_str("\\x30")?
                }
                b' '..=b'~' => write!(f, "{}", char::from(byte))?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for FrameSpec {
    /// The canonical spelling: defaults left out, options in a fixed order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut opts: Vec<String> = Vec::new();
        let name: String = match self {
            FrameSpec::None => "none".into(),
            FrameSpec::Delimiter(config) => {
                let name = if config.is_line() {
                    "line".to_string()
                } else {
                    let alts: Vec<String> = config
                        .delimiters()
                        .iter()
                        .map(|d| {
                            Escaped {
                                bytes: d,
                                hex_guard: true,
                            }
                            .to_string()
                        })
                        .collect();
                    opts.push(alts.join("|"));
                    "delim".to_string()
                };
                if config.strip {
                    opts.push("strip".into());
                }
                if config.max_frame != DEFAULT_MAX_FRAME {
                    opts.push(format!("max={}", Size(config.max_frame)));
                }
                name
            }
            FrameSpec::Length(config) => {
                match config.field {
                    LengthField::Binary {
                        width,
                        endian,
                        signed,
                    } => {
                        opts.push(width.bytes().to_string());
                        if endian == Endian::Little {
                            opts.push("endian=little".into());
                        }
                        if signed {
                            opts.push("signed".into());
                        }
                    }
                    LengthField::Ascii { digits } => opts.push(format!("ascii={digits}")),
                    LengthField::Varint => opts.push("varint".into()),
                }
                if config.offset != 0 {
                    opts.push(format!("offset={}", config.offset));
                }
                if config.adjust != 0 {
                    opts.push(format!("adjust={}", config.adjust));
                }
                if config.strip != 0 {
                    opts.push(format!("strip={}", config.strip));
                }
                if config.max_frame != DEFAULT_MAX_FRAME {
                    opts.push(format!("max={}", Size(config.max_frame)));
                }
                "length".into()
            }
            FrameSpec::Fixed(size) => {
                opts.push(size.to_string());
                "fixed".into()
            }
            FrameSpec::JsonHeader(config) => {
                let default = JsonHeaderConfig::default();
                if config.width != default.width {
                    opts.push(format!("width={}", config.width.bytes()));
                }
                if config.endian != default.endian {
                    opts.push("endian=big".into());
                }
                if config.signed != default.signed {
                    opts.push("unsigned".into());
                }
                if config.size_key != default.size_key {
                    let key = Escaped {
                        bytes: config.size_key.as_bytes(),
                        hex_guard: false,
                    };
                    opts.push(format!("key={key}"));
                }
                if let Some(label) = &config.label_key {
                    let label = Escaped {
                        bytes: label.as_bytes(),
                        hex_guard: false,
                    };
                    opts.push(format!("label={label}"));
                }
                if config.max_header != default.max_header {
                    opts.push(format!("max-header={}", Size(config.max_header)));
                }
                if config.max_frame != default.max_frame {
                    opts.push(format!("max={}", Size(config.max_frame)));
                }
                "json-header".into()
            }
            FrameSpec::Protocol { name, max } => {
                if *max != DEFAULT_MAX_FRAME {
                    opts.push(format!("max={}", Size(*max)));
                }
                (*name).into()
            }
            FrameSpec::Custom(custom) => custom.0.name().into(),
        };
        f.write_str(&name)?;
        if !opts.is_empty() {
            write!(f, ":{}", opts.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> FrameSpec {
        FrameSpec::parse(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(spec: &str) -> (usize, String) {
        let error = FrameSpec::parse(spec).unwrap_err();
        assert_eq!(error.spec, spec);
        (error.at, error.why)
    }

    #[test]
    fn required_spellings() {
        assert_eq!(parse("none"), FrameSpec::None);
        assert_eq!(parse("line"), FrameSpec::Delimiter(DelimiterConfig::line()));
        assert_eq!(
            parse("length:4"),
            FrameSpec::Length(LengthConfig::new(LengthField::big_endian(Width::W4)))
        );
        assert_eq!(
            parse("length:2"),
            FrameSpec::Length(LengthConfig::new(LengthField::big_endian(Width::W2)))
        );
        assert_eq!(
            parse("fixed:188"),
            FrameSpec::Fixed(NonZeroU64::new(188).unwrap())
        );
        assert_eq!(
            parse("json-header"),
            FrameSpec::JsonHeader(JsonHeaderConfig::default())
        );
    }

    #[test]
    fn rich_spellings() {
        assert_eq!(
            parse("length:width=2,endian=little,offset=1,adjust=-3,strip=3,max=1M,signed"),
            FrameSpec::Length(LengthConfig {
                field: LengthField::Binary {
                    width: Width::W2,
                    endian: Endian::Little,
                    signed: true
                },
                offset: 1,
                adjust: -3,
                strip: 3,
                max_frame: 1 << 20,
            })
        );
        assert_eq!(
            parse("length:ascii=4"),
            FrameSpec::Length(LengthConfig::new(LengthField::Ascii {
                digits: NonZeroU8::new(4).unwrap()
            }))
        );
        assert_eq!(
            parse("length:varint,max=64k"),
            FrameSpec::Length(LengthConfig {
                max_frame: 64 << 10,
                ..LengthConfig::new(LengthField::Varint)
            })
        );
        let mut delim = DelimiterConfig::new([b"\r\n".to_vec(), b"\n".to_vec()]).unwrap();
        delim.strip = true;
        delim.max_frame = 8 << 10;
        assert_eq!(
            parse(r"delim:\r\n|\n,strip,max=8K"),
            FrameSpec::Delimiter(delim.clone())
        );
        assert_eq!(
            parse("delim:0x0d0a|0x0A,max=8K,strip"),
            FrameSpec::Delimiter(delim)
        );
        let mut line = DelimiterConfig::line();
        line.max_frame = 64 << 10;
        assert_eq!(parse("line:max=64K"), FrameSpec::Delimiter(line));
        assert_eq!(
            parse(
                "json-header:width=8,endian=big,key=size,max-header=64K,label=op,unsigned,max=1G"
            ),
            FrameSpec::JsonHeader(JsonHeaderConfig {
                width: PrefixWidth::Eight,
                endian: Endian::Big,
                signed: false,
                size_key: "size".into(),
                label_key: Some("op".into()),
                max_header: 64 << 10,
                max_frame: 1 << 30,
            })
        );
        let FrameSpec::Delimiter(config) = parse(r"delim:\,|\||\:|\\|a\x00b|\0|\t") else {
            panic!("not a delimiter spec");
        };
        assert_eq!(
            config.delimiters(),
            [&b"\0"[..], b"\t", b",", b":", b"\\", b"a\0b", b"|"]
        );
    }

    #[test]
    fn canonical_round_trip() {
        for (spec, canonical) in [
            ("none", "none"),
            ("line", "line"),
            ("delim:\\n|\\r\\n", "line"),
            ("line:strip,max=65536", "line:strip,max=64K"),
            ("length", "length:4"),
            ("length:4", "length:4"),
            ("length:width=2", "length:2"),
            ("length:signed,3,max=16M", "length:3,signed"),
            (
                "length:max=1000,strip=3,adjust=+1,offset=2,endian=little,8",
                "length:8,endian=little,offset=2,adjust=1,strip=3,max=1000",
            ),
            ("length:ascii=4", "length:ascii=4"),
            ("length:varint,adjust=-2", "length:varint,adjust=-2"),
            ("fixed:1K", "fixed:1024"),
            ("delim:0x00", "delim:\\0"),
            ("delim:0x30786162", "delim:\\x30xab"),
            ("delim:\\x7f\\xff|END", "delim:END|\\x7f\\xff"),
            ("json-header", "json-header"),
            (
                "json-header:width=4,endian=little,signed,key=total_size",
                "json-header",
            ),
            (
                "json-header:key=a\\,b,label=t",
                "json-header:key=a\\,b,label=t",
            ),
            ("json-header:max-header=1M", "json-header:max-header=1M"),
        ] {
            let parsed = parse(spec);
            assert_eq!(parsed.to_string(), canonical, "{spec}");
            assert_eq!(parse(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn errors_name_the_offset() {
        assert_eq!(error("nothing").0, 0);
        assert!(error("nothing").1.contains("unknown framing"));
        assert_eq!(error("none:x"), (5, "none takes no options".into()));
        assert_eq!(error("length:5").0, 7);
        assert_eq!(error("length:4,width=2").0, 9);
        assert_eq!(error("length:2,endian=middle").0, 16);
        assert_eq!(error("length:ascii=4,endian=little").0, 15);
        assert_eq!(error("length:varint,signed").0, 14);
        assert_eq!(error("length:ascii=21").0, 13);
        assert_eq!(error("length:adjust=-x").0, 15);
        assert_eq!(error("length:adjust").0, 7);
        assert_eq!(error("length:max=12Q").0, 11);
        assert_eq!(error("length:max=0").0, 11);
        assert_eq!(error("length:max=99999999999999999999").0, 11);
        assert_eq!(error("length:4,,max=1").0, 9);
        assert_eq!(error("length:4,bogus").0, 9);
        assert_eq!(error("length:varint=1").0, 13);
        assert_eq!(error("length:signed,unsigned").0, 14);
        assert_eq!(error("fixed:0").0, 6);
        assert_eq!(error("fixed").0, 5);
        assert_eq!(error("fixed:4,5").0, 8);
        assert_eq!(error("delim").0, 5);
        assert_eq!(error("delim:a||b").0, 8);
        assert_eq!(error("delim:a|0xzz").0, 10);
        assert_eq!(error("delim:0x0").0, 6);
        assert_eq!(error("delim:ab\\q").0, 8);
        assert_eq!(error("delim:ab\\").0, 8);
        assert_eq!(error("delim:\\x4").0, 6);
        assert_eq!(error("line:strip=1").0, 10);
        assert_eq!(error("line:strip,strip").0, 11);
        assert_eq!(error("json-header:width=2").0, 18);
        assert_eq!(error("json-header:key=").0, 16);
        // Offsets count characters, not bytes.
        assert_eq!(error("delim:é,bogus").0, 8);
    }

    #[test]
    fn help_mentions_every_framing() {
        for word in [
            "none",
            "line",
            "delim:",
            "length",
            "fixed:N",
            "json-header",
            "PROTOCOL",
        ] {
            assert!(SPEC_HELP.contains(word), "{word}");
        }
    }

    #[test]
    fn unknown_protocols_fail_loudly() {
        let spec = FrameSpec::Protocol {
            name: "no-such-protocol",
            max: 10,
        };
        let [mut client, _] = spec.decoders();
        assert_eq!(client.max_frame(), 10);
        assert_eq!(client.decode(b""), Ok(Step::NeedMore));
        assert!(client.decode(b"x").is_err());
        assert_eq!(client.finish(), End::Truncated { missing: None });
    }
}
