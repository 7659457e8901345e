//! `consume --format`: kcat's output tokens, parsed once and rendered per
//! record.

use std::io::{self, Write};

use ghyll_broker::ConsumerRecord;

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
}

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format {
    tokens: Vec<Token>,
}

impl Format {
    /// Parses kcat's tokens: `%t %p %o %k %s %T %h %%` and the escapes
    /// `\n \t \r \\`; anything else after `%` or `\` is an error.
    pub(crate) fn parse(text: &str) -> Result<Format, String> {
        let mut tokens = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let field = match c {
                '%' => match chars.next() {
                    Some('t') => Token::Topic,
                    Some('p') => Token::Partition,
                    Some('o') => Token::Offset,
                    Some('k') => Token::Key,
                    Some('s') => Token::Value,
                    Some('T') => Token::Timestamp,
                    Some('h') => Token::Headers,
                    Some('%') => {
                        literal.push(b'%');
                        continue;
                    }
                    Some(other) => {
                        return Err(format!("unknown format token %{other} (known: %t %p %o %k %s %T %h %%)"))
                    }
                    None => return Err("the format ends with a lone '%' (write %% for a percent sign)".into()),
                },
                '\\' => {
                    let escaped = match chars.next() {
                        Some('n') => b'\n',
                        Some('t') => b'\t',
                        Some('r') => b'\r',
                        Some('\\') => b'\\',
                        Some(other) => return Err(format!("unknown escape \\{other} (known: \\n \\t \\r \\\\)")),
                        None => return Err("the format ends with a lone '\\' (write \\\\ for a backslash)".into()),
                    };
                    literal.push(escaped);
                    continue;
                }
                other => {
                    let mut buffer = [0u8; 4];
                    literal.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
                    continue;
                }
            };
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(field);
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Format { tokens })
    }

    /// Writes `record` as this format says. Keys and values are written as
    /// their raw bytes; a null key or value is written as nothing.
    pub(crate) fn write(&self, out: &mut impl Write, record: &ConsumerRecord<'_>) -> io::Result<()> {
        for token in &self.tokens {
            match token {
                Token::Literal(bytes) => out.write_all(bytes)?,
                Token::Topic => out.write_all(record.topic.as_bytes())?,
                Token::Partition => write!(out, "{}", record.partition)?,
                Token::Offset => write!(out, "{}", record.offset)?,
                Token::Key => out.write_all(record.key.unwrap_or_default())?,
                Token::Value => out.write_all(record.value.unwrap_or_default())?,
                Token::Timestamp => write!(out, "{}", record.timestamp_ms)?,
                Token::Headers => write_headers(out, record)?,
            }
        }
        Ok(())
    }
}

/// `k=v` pairs joined by commas; a null value is written as `k=`. A header
/// the batch cannot decode ends the list with `<corrupt header>` (appended
/// batches were checked, so only a foreign writer could cause it).
fn write_headers(out: &mut impl Write, record: &ConsumerRecord<'_>) -> io::Result<()> {
    for (index, header) in record.headers.enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        match header {
            Ok(header) => {
                out.write_all(header.key.as_bytes())?;
                out.write_all(b"=")?;
                out.write_all(header.value.unwrap_or_default())?;
            }
            Err(_) => out.write_all(b"<corrupt header>")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_escapes_parse() {
        let format = Format::parse("%t/%p@%o %k=%s %T [%h] 100%%\\t\\n\\\\").unwrap();
        assert_eq!(
            format.tokens,
            [
                Token::Topic,
                Token::Literal(b"/".to_vec()),
                Token::Partition,
                Token::Literal(b"@".to_vec()),
                Token::Offset,
                Token::Literal(b" ".to_vec()),
                Token::Key,
                Token::Literal(b"=".to_vec()),
                Token::Value,
                Token::Literal(b" ".to_vec()),
                Token::Timestamp,
                Token::Literal(b" [".to_vec()),
                Token::Headers,
                Token::Literal(b"] 100%\t\n\\".to_vec()),
            ]
        );
    }

    #[test]
    fn non_ascii_literals_survive() {
        assert_eq!(Format::parse("é→%s").unwrap().tokens[0], Token::Literal("é→".as_bytes().to_vec()));
    }

    #[test]
    fn unknown_tokens_and_lone_markers_are_errors() {
        for bad in ["%x", "%", "abc%", "\\q", "\\", "%s\\"] {
            assert!(Format::parse(bad).is_err(), "{bad:?}");
        }
    }
}
