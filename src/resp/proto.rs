//! RESP2, the Redis serialization protocol, as far as a server needs it: requests in, replies
//! out. A request is an array of bulk strings (`*2\r\n$3\r\nGET\r\n$5\r\ncolor\r\n`, what
//! every client library and `redis-cli` send) or an inline command (`GET color\r\n`, what a
//! person types into `nc` or `telnet`). Replies are simple strings, errors, integers, bulk
//! strings (or nil) and arrays.
//!
//! Hand-written rather than taken from a crate, because the limits have to be checked at the
//! header: a client announcing a bulk of 2^40 bytes, or an array of a billion elements, gets its
//! error the moment the header is read, before any memory is set aside for it, and a line that
//! never ends is refused once it is longer than any header or inline command may be. A parser
//! that returns "incomplete" until the whole value is there cannot do that. The parser is
//! incremental and pure: it looks at the bytes received so far and says how many make the next
//! command, that more are needed, or what is wrong; it never panics on any input (a property
//! test feeds it arbitrary bytes, and every request split at every byte).

use std::fmt;

/// What one connection may send, enforced by the parser and the commands
/// (DESIGN §15 lists them with their reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes.
    pub max_key: usize,
    /// Longest value, in bytes.
    pub max_value: usize,
    /// Most arguments in one command, the command's name included.
    pub max_args: usize,
    /// Most bytes of arguments in one command (a bulk string longer than this is refused at its
    /// header).
    pub max_request: usize,
    /// Longest inline command line.
    pub max_inline: usize,
    /// Commands read ahead of their answers (a pipeline deeper than this waits in the socket).
    pub max_pending: usize,
    /// Connections one node accepts at once; more are told so and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key: 1024,
            max_value: 64 * 1024,
            max_args: 1024,
            max_request: 1024 * 1024,
            max_inline: 64 * 1024,
            max_pending: 1024,
            max_connections: 256,
        }
    }
}

/// The longest header line (`*1024\r\n`, `$1048576\r\n`): a sign, 19 digits and CRLF fit.
const MAX_HEADER: usize = 32;

/// What the bytes received so far make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command (its arguments, the name first; empty for a blank line or `*0`), and how
    /// many bytes it took.
    Command(Vec<Vec<u8>>, usize),
    /// Not a whole command yet: read more.
    Incomplete,
    /// The bytes break the protocol or a limit: answer the error and close the connection (the
    /// stream cannot be resynchronized).
    Error(ProtocolError),
}

/// Why a request was refused, in Redis's words where Redis has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// `*n` with n not a number, or more than the limit.
    MultibulkLength,
    /// `$n` with n not a number, negative, or more than the limit.
    BulkLength,
    /// An array element that is not a bulk string.
    ExpectedBulk(u8),
    /// Bulk data not followed by CRLF.
    MissingCrlf,
    /// A header line longer than any header.
    HeaderTooLong,
    /// An inline command longer than the limit.
    InlineTooBig,
    /// An inline command with an unbalanced quote.
    UnbalancedQuotes,
    /// A command whose arguments are more bytes than the limit.
    RequestTooBig,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::MultibulkLength => f.write_str("Protocol error: invalid multibulk length"),
            ProtocolError::BulkLength => f.write_str("Protocol error: invalid bulk length"),
            ProtocolError::ExpectedBulk(b) => {
                write!(f, "Protocol error: expected '$', got '{}'", char::from(*b).escape_default())
            }
            ProtocolError::MissingCrlf => f.write_str("Protocol error: expected CRLF after bulk data"),
            ProtocolError::HeaderTooLong => f.write_str("Protocol error: header line too long"),
            ProtocolError::InlineTooBig => f.write_str("Protocol error: too big inline request"),
            ProtocolError::UnbalancedQuotes => f.write_str("Protocol error: unbalanced quotes in request"),
            ProtocolError::RequestTooBig => f.write_str("Protocol error: request too big"),
        }
    }
}

/// Reads the next command from `buf` (the bytes received and not yet taken).
pub fn parse(buf: &[u8], limits: &Limits) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_array(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

/// A header line `<type><number>\r\n` at `at`: the number and where the line ends, `None` if
/// the line is not complete yet.
fn header(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let window = &buf[at..buf.len().min(at + MAX_HEADER)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if window.len() == MAX_HEADER { Err(ProtocolError::HeaderTooLong) } else { Ok(None) };
    };
    let line = &window[1..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let n = std::str::from_utf8(line).ok().and_then(|s| s.parse::<i64>().ok());
    let error = if window[0] == b'*' { ProtocolError::MultibulkLength } else { ProtocolError::BulkLength };
    n.map(|n| Some((n, at + nl + 1))).ok_or(error)
}

fn parse_array(buf: &[u8], limits: &Limits) -> Parsed {
    let (count, mut at) = match header(buf, 0) {
        Ok(Some(h)) => h,
        Ok(None) => return Parsed::Incomplete,
        Err(e) => return Parsed::Error(e),
    };
    if count <= 0 {
        // `*0` and `*-1` are no command: Redis skips them.
        return Parsed::Command(Vec::new(), at);
    }
    if count as u64 > limits.max_args as u64 {
        return Parsed::Error(ProtocolError::MultibulkLength);
    }
    let mut args = Vec::with_capacity(count as usize);
    let mut total = 0usize;
    for _ in 0..count {
        match buf.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => return Parsed::Error(ProtocolError::ExpectedBulk(other)),
        }
        let (len, data) = match header(buf, at) {
            Ok(Some(h)) => h,
            Ok(None) => return Parsed::Incomplete,
            Err(e) => return Parsed::Error(e),
        };
        if len < 0 || len as u64 > limits.max_request as u64 {
            return Parsed::Error(ProtocolError::BulkLength);
        }
        let len = len as usize;
        total += len;
        if total > limits.max_request {
            return Parsed::Error(ProtocolError::RequestTooBig);
        }
        let end = data + len;
        if buf.len() < end + 2 {
            return Parsed::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Error(ProtocolError::MissingCrlf);
        }
        args.push(buf[data..end].to_vec());
        at = end + 2;
    }
    Parsed::Command(args, at)
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Parsed {
    let window = &buf[..buf.len().min(limits.max_inline + 1)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if window.len() > limits.max_inline {
            Parsed::Error(ProtocolError::InlineTooBig)
        } else {
            Parsed::Incomplete
        };
    };
    let line = &window[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match split_inline(line) {
        Some(args) if args.len() > limits.max_args => Parsed::Error(ProtocolError::MultibulkLength),
        Some(args) => Parsed::Command(args, nl + 1),
        None => Parsed::Error(ProtocolError::UnbalancedQuotes),
    }
}

/// Splits an inline command at spaces and tabs; `"..."` (with `\"`, `\\`, `\n`, `\r`, `\t`
/// escapes) and `'...'` quote an argument, as `redis-cli` does. `None` if a quote is not closed.
fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut arg = Vec::new();
        match line[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    let &b = line.get(i)?;
                    i += 1;
                    match b {
                        b if b == quote => break,
                        b'\\' if quote == b'"' => {
                            let &e = line.get(i)?;
                            i += 1;
                            arg.push(match e {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                other => other,
                            });
                        }
                        b => arg.push(b),
                    }
                }
                // A closing quote must end the argument.
                if i < line.len() && !matches!(line[i], b' ' | b'\t') {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !matches!(line[i], b' ' | b'\t') {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
    Some(args)
}

/// A reply, RESP2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the text starts with its code (`ERR`, `TRYAGAIN`, `TIMEOUT`).
    Error(String),
    /// `:3`.
    Int(i64),
    /// `$5\r\nhello` or, for `None`, the nil `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`.
    Array(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// `-ERR text`.
    pub fn err(text: impl fmt::Display) -> Reply {
        Reply::Error(format!("ERR {text}"))
    }

    /// A bulk string of text.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Bulk(Some(s.into().into_bytes()))
    }

    /// Appends the reply's bytes to `out`. Simple strings and errors are one line: a CR or LF
    /// in their text becomes a space.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let line = |out: &mut Vec<u8>, kind: u8, text: &str| {
            out.push(kind);
            out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        };
        match self {
            Reply::Simple(s) => line(out, b'+', s),
            Reply::Error(s) => line(out, b'-', s),
            Reply::Int(n) => line(out, b':', &n.to_string()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(data)) => {
                line(out, b'$', &data.len().to_string());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(items) => {
                line(out, b'*', &items.len().to_string());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn command(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n", a.len()).bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn arrays_of_bulk_strings_and_inline_commands_parse() {
        let set = command(&[b"SET", b"color", b"red\r\nblue"]);
        let Parsed::Command(args, used) = parse(&set, &limits()) else { panic!() };
        assert_eq!(args, vec![b"SET".to_vec(), b"color".to_vec(), b"red\r\nblue".to_vec()]);
        assert_eq!(used, set.len());
        let inline = b"set greeting \"hello \\\"world\\\"\"\r\nGET x\n";
        let Parsed::Command(args, used) = parse(inline, &limits()) else { panic!() };
        assert_eq!(args, vec![b"set".to_vec(), b"greeting".to_vec(), b"hello \"world\"".to_vec()]);
        assert_eq!(
            parse(&inline[used..], &limits()),
            Parsed::Command(vec![b"GET".to_vec(), b"x".to_vec()], 6)
        );
        assert_eq!(parse(b"SET k 'it''s'\r\n", &limits()), Parsed::Error(ProtocolError::UnbalancedQuotes));
        assert_eq!(parse(b"SET k \"open\r\n", &limits()), Parsed::Error(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn limits_are_checked_at_the_header() {
        let l = limits();
        assert_eq!(parse(b"*2\r\n$1099511627776\r\n", &l), Parsed::Error(ProtocolError::BulkLength));
        assert_eq!(parse(b"*99999999999\r\n", &l), Parsed::Error(ProtocolError::MultibulkLength));
        assert_eq!(parse(b"*1\r\n$-5\r\n", &l), Parsed::Error(ProtocolError::BulkLength));
        assert_eq!(parse(b"*1\r\n$x\r\n", &l), Parsed::Error(ProtocolError::BulkLength));
        assert_eq!(parse(b"*1\r\n+OK\r\n", &l), Parsed::Error(ProtocolError::ExpectedBulk(b'+')));
        assert_eq!(parse(b"*1\r\n$2\r\nabcd", &l), Parsed::Error(ProtocolError::MissingCrlf));
        assert_eq!(parse(&[b'*'; 40], &l), Parsed::Error(ProtocolError::HeaderTooLong));
        // Ten megabytes without a newline: refused once past the inline limit.
        let long = vec![b'a'; 10 * 1024 * 1024];
        assert_eq!(parse(&long, &l), Parsed::Error(ProtocolError::InlineTooBig));
        assert_eq!(parse(&long[..l.max_inline], &l), Parsed::Incomplete);
        // Many bulks that each fit but together do not.
        let half = vec![b'v'; l.max_request / 2 + 1];
        let two = command(&[b"MGET", &half, &half]);
        assert_eq!(parse(&two, &l), Parsed::Error(ProtocolError::RequestTooBig));
        assert_eq!(parse(b"*0\r\n", &l), Parsed::Command(vec![], 4));
        assert_eq!(parse(b"\r\n", &l), Parsed::Command(vec![], 2));
    }

    #[test]
    fn replies_encode_as_resp2() {
        let mut out = Vec::new();
        Reply::Array(vec![
            Reply::ok(),
            Reply::err("no\r\nnewlines"),
            Reply::Int(-3),
            Reply::Bulk(None),
            Reply::text("hi"),
        ])
        .encode(&mut out);
        assert_eq!(out, b"*5\r\n+OK\r\n-ERR no  newlines\r\n:-3\r\n$-1\r\n$2\r\nhi\r\n");
    }

    proptest! {
        /// Any bytes: the parser never panics, and a command it takes never claims more bytes
        /// than it was given.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let small = Limits { max_args: 4, max_request: 64, max_inline: 40, ..Limits::default() };
            for l in [limits(), small] {
                if let Parsed::Command(_, used) = parse(&bytes, &l) {
                    prop_assert!(used > 0 && used <= bytes.len());
                }
            }
        }

        /// A pipeline of encoded commands, cut at any byte: every prefix is incomplete or yields
        /// the same first command, and reading the whole stream gives back every command.
        #[test]
        fn pipelines_split_anywhere_parse_the_same(
            commands in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut stream = Vec::new();
            for c in &commands {
                let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                stream.extend(command(&args));
            }
            let l = limits();
            let first = parse(&stream, &l);
            let at = cut.index(stream.len());
            match parse(&stream[..at], &l) {
                Parsed::Incomplete => {}
                p => prop_assert_eq!(&p, &first),
            }
            let mut rest = &stream[..];
            for c in &commands {
                let Parsed::Command(args, used) = parse(rest, &l) else {
                    return Err(TestCaseError::fail(format!("no command at {}", stream.len() - rest.len())));
                };
                prop_assert_eq!(&args, c);
                rest = &rest[used..];
            }
            prop_assert!(rest.is_empty());
        }
    }
}
