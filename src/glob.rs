//! Shell-style patterns for selecting runs and tags: `*` matches any text (`/` included), `?`
//! one character, `[abc]` / `[a-z]` / `[!abc]` one character of a set; `\` escapes.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// Compiles a pattern. An unclosed `[` is an error.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                }
                '?' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!') | Some('^')) {
                        negated = true;
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(format!("unclosed '[' in pattern {pattern:?}"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            if let Some(&end) = ahead.peek() {
                                if end != ']' {
                                    chars.next();
                                    chars.next();
                                    ranges.push((c, end));
                                    continue;
                                }
                            }
                        }
                        ranges.push((c, c));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Glob {
            pattern: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True if the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        // Iterative matching with backtracking to the last `*`.
        let (mut t, mut c) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while c < chars.len() {
            match self.tokens.get(t) {
                Some(Token::AnyRun) => {
                    star = Some((t, c));
                    t += 1;
                    continue;
                }
                Some(tok) if one(tok, chars[c]) => {
                    t += 1;
                    c += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((st, sc)) => {
                    t = st + 1;
                    c = sc + 1;
                    star = Some((st, sc + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|x| *x == Token::AnyRun)
    }
}

fn one(tok: &Token, ch: char) -> bool {
    match tok {
        Token::Char(x) => *x == ch,
        Token::Any => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(a, b)| a <= ch && ch <= b) != *negated
        }
        Token::AnyRun => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn patterns() {
        assert!(m("*", ""));
        assert!(m("*", "a/b"));
        assert!(m("train/*", "train/loss"));
        assert!(!m("train/*", "val/loss"));
        assert!(m("*/loss", "train/loss"));
        assert!(m("*loss*", "a/loss/b"));
        assert!(m("run_0?", "run_07"));
        assert!(!m("run_0?", "run_007"));
        assert!(m("run_[0-2]*", "run_1x"));
        assert!(!m("run_[!0-2]*", "run_1x"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("lr=1e-3*", "lr=1e-3,seed=1"));
        assert!(m("λ*", "λx"));
        assert!(Glob::new("[abc").is_err());
    }
}
