//! Filtering and ordering runs with MLflow's search syntax:
//! `metrics.\`val/mAP\` > 0.85 and params.lr < 0.01 and attributes.status = 'SUCCESS'`.
//!
//! Grammar (keywords in any case):
//!
//! ```text
//! filter     := or
//! or         := and ("OR" and)*
//! and        := not ("AND" not)*
//! not        := "NOT" not | "(" filter ")" | comparison
//! comparison := key op value
//!             | key ["NOT"] "IN" "(" value ("," value)* ")"
//!             | key "IS" ["NOT"] "NULL"
//! key        := ["min" | "max" | "last"] "(" entity ")" | entity
//! entity     := ("metrics" | "params" | "attributes" | "tags") "." name
//! name       := [A-Za-z0-9_./:-]+ | `backticked` | "double quoted"
//! op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | ["NOT"] "LIKE" | ["NOT"] "ILIKE"
//! value      := number | 'single quoted' | "double quoted" | TRUE | FALSE
//! order-by   := key ["ASC" | "DESC"] ("," key ["ASC" | "DESC"])*
//! ```
//!
//! `AND` binds tighter than `OR`. `metrics.x` is the metric's last value (at its largest
//! step); `min(...)`/`max(...)` select the extremes. `params.` (also `param.`, and `tags.`,
//! which runs written by TensorBoard writers do not have apart from hparams) are the
//! hyperparameters; `attributes.` (also `attribute.`, `attr.`, `run.`) are `status`,
//! `run_name` (or `run`), `start_time`, `end_time`, `duration` and `last_step`. Comparisons
//! are numeric when both sides are numbers (a parameter stored as text that reads as a number
//! counts), textual otherwise; a run without the key fails the comparison (SQL's NULL rules:
//! `NOT` of it fails too); `IS NULL` selects such runs. `LIKE` uses `%` and `_`.
//! Status values also match MLflow's names: `FINISHED` for `SUCCESS`, `FAILED` for `FAILURE`.

use std::cmp::Ordering;
use std::fmt;

/// Where a key's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A scalar tag's summary.
    Metric(Agg),
    /// A hyperparameter.
    Param,
    /// A run attribute (`status`, `run_name`, times, `last_step`).
    Attribute,
}

/// Which summary of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Agg {
    /// The value at the largest step.
    Last,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

/// A value a run is looked up by: `metrics.x`, `max(metrics.x)`, `params.lr`,
/// `attributes.status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Where the value comes from.
    pub source: Source,
    /// The metric tag, parameter or attribute name.
    pub name: String,
}

impl fmt::Display for Key {
    /// The column name: `metrics.x`, `min(metrics.x)`, `params.lr`, `status`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Metric(Agg::Last) => write!(f, "metrics.{}", self.name),
            Source::Metric(Agg::Min) => write!(f, "min(metrics.{})", self.name),
            Source::Metric(Agg::Max) => write!(f, "max(metrics.{})", self.name),
            Source::Param => write!(f, "params.{}", self.name),
            Source::Attribute => f.write_str(&self.name),
        }
    }
}

/// A value of a run, or a literal in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

impl Cell {
    fn as_number(&self) -> Option<f64> {
        match self {
            Cell::Number(x) => Some(*x),
            Cell::Text(s) => s.trim().parse().ok(),
            Cell::Bool(_) => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Cell::Number(x) => format_number(*x),
            Cell::Text(s) => s.clone(),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

/// A number as people write it: integers without a fraction, others in the shortest form
/// that reads back exactly.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Something a filter can be evaluated on: a run of the run table.
pub trait Lookup {
    /// The value of `key`, or `None` when the run has none.
    fn get(&self, key: &Key) -> Option<Cell>;
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE` (case-sensitive)
    Like,
    /// `ILIKE` (case-insensitive)
    ILike,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Does not hold.
    Not(Box<Filter>),
    /// `key op value`.
    Compare(Key, Op, Cell),
    /// `key IN (...)`.
    In(Key, Vec<Cell>),
    /// `key IS NULL`.
    IsNull(Key),
}

/// A filter or order-by that does not parse: the message and where in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// The input.
    pub input: String,
    /// Byte offset of the offending token.
    pub position: usize,
}

impl fmt::Display for QueryError {
    /// The message, the input, and a caret under the offending token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let col = self.input[..self.position.min(self.input.len())]
            .chars()
            .count();
        write!(
            f,
            "{} (at character {})\n  {}\n  {}^",
            self.message,
            col + 1,
            self.input,
            " ".repeat(col)
        )
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: keyword, prefix, name or number.
    Word(String),
    /// `backticked` or "double quoted" name (or, in value position, a string).
    Quoted(String, char),
    LParen,
    RParen,
    Comma,
    Dot,
    Op(&'static str),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(s, q) => format!("{q}{s}{q}"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Op(o) => format!("`{o}`"),
            Tok::End => "the end".into(),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | ':' | '-' | '+')
}

fn tokenize(input: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let err = |message: String, position: usize| QueryError {
        message,
        input: input.to_owned(),
        position,
    };
    let mut out = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(pos, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let tok = match c {
            '(' => {
                it.next();
                Tok::LParen
            }
            ')' => {
                it.next();
                Tok::RParen
            }
            ',' => {
                it.next();
                Tok::Comma
            }
            '`' | '"' | '\'' => {
                it.next();
                let mut s = String::new();
                loop {
                    match it.next() {
                        // A doubled quote stands for one.
                        Some((_, q)) if q == c => {
                            if it.peek().map(|&(_, n)| n) == Some(c) {
                                it.next();
                                s.push(c);
                            } else {
                                break;
                            }
                        }
                        Some((_, ch)) => s.push(ch),
                        None => return Err(err(format!("unclosed {c}"), pos)),
                    }
                }
                Tok::Quoted(s, c)
            }
            '=' | '!' | '<' | '>' => {
                it.next();
                let next = it.peek().map(|&(_, n)| n);
                let op = match (c, next) {
                    ('=', Some('=')) => "==",
                    ('!', Some('=')) => "!=",
                    ('<', Some('=')) => "<=",
                    ('<', Some('>')) => "<>",
                    ('>', Some('=')) => ">=",
                    ('=', _) => "=",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    _ => return Err(err("`!` must be followed by `=`".into(), pos)),
                };
                if op.len() == 2 {
                    it.next();
                }
                Tok::Op(op)
            }
            '.' => {
                // `.5` is a number; otherwise a separator.
                let mut look = it.clone();
                look.next();
                if look.peek().is_some_and(|&(_, d)| d.is_ascii_digit())
                    && !matches!(out.last(), Some((Tok::Word(_), _)))
                {
                    let mut w = String::new();
                    while let Some(&(_, ch)) = it.peek() {
                        if is_word_char(ch) || ch == '.' {
                            w.push(ch);
                            it.next();
                        } else {
                            break;
                        }
                    }
                    Tok::Word(w)
                } else {
                    it.next();
                    Tok::Dot
                }
            }
            c if is_word_char(c) => {
                let mut w = String::new();
                let numeric = c.is_ascii_digit() || c == '-' || c == '+';
                while let Some(&(_, ch)) = it.peek() {
                    // Numbers keep their decimal point and exponent sign; names stop at `.`.
                    let exp_sign = numeric && (ch == '-' || ch == '+') && w.ends_with(['e', 'E']);
                    if is_word_char(ch) || (numeric && ch == '.') || exp_sign {
                        w.push(ch);
                        it.next();
                    } else {
                        break;
                    }
                }
                Tok::Word(w)
            }
            other => return Err(err(format!("unexpected character `{other}`"), pos)),
        };
        out.push((tok, pos));
    }
    out.push((Tok::End, input.len()));
    Ok(out)
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<(Tok, usize)>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, QueryError> {
        Ok(Parser {
            input,
            toks: tokenize(input)?,
            i: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn error(&self, message: impl Into<String>) -> QueryError {
        QueryError {
            message: message.into(),
            input: self.input.to_owned(),
            position: self.pos(),
        }
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let yes = self.keyword(kw);
        if yes {
            self.next();
        }
        yes
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.peek().describe())))
        }
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, QueryError> {
        if self.eat_keyword("not") {
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        if *self.peek() == Tok::LParen {
            self.next();
            let inner = self.or()?;
            self.expect(Tok::RParen, "`)`")?;
            return Ok(inner);
        }
        self.comparison()
    }

    /// `metrics.x`, `max(metrics.x)`.
    fn key(&mut self) -> Result<Key, QueryError> {
        let agg = match self.peek() {
            Tok::Word(w) if self.toks.get(self.i + 1).map(|t| &t.0) == Some(&Tok::LParen) => {
                let agg = match w.to_ascii_lowercase().as_str() {
                    "min" => Agg::Min,
                    "max" => Agg::Max,
                    "last" => Agg::Last,
                    _ => {
                        return Err(self.error(format!(
                            "unknown function {}: expected min, max or last",
                            self.peek().describe()
                        )))
                    }
                };
                self.next();
                self.next();
                Some(agg)
            }
            _ => None,
        };
        let start = self.pos();
        let prefix = match self.peek() {
            Tok::Word(w) => w.clone(),
            other => {
                return Err(self.error(format!(
                "expected a key like metrics.`val/mAP`, params.lr or attributes.status, found {}",
                other.describe()
            )))
            }
        };
        self.next();
        let source = match prefix.to_ascii_lowercase().as_str() {
            "metrics" | "metric" => Source::Metric(agg.unwrap_or(Agg::Last)),
            "params" | "param" | "tags" | "tag" => Source::Param,
            "attributes" | "attribute" | "attr" | "run" => Source::Attribute,
            _ => {
                return Err(QueryError {
                    message: format!(
                        "unknown key `{prefix}`: keys start with metrics., params. or attributes."
                    ),
                    input: self.input.to_owned(),
                    position: start,
                })
            }
        };
        if agg.is_some() && !matches!(source, Source::Metric(_)) {
            return Err(QueryError {
                message: "min(), max() and last() apply to metrics only".into(),
                input: self.input.to_owned(),
                position: start,
            });
        }
        self.expect(Tok::Dot, "`.` after the key's prefix")?;
        let mut name = match self.peek() {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q, '`' | '"') => q.clone(),
            other => {
                return Err(self.error(format!(
                    "expected a name after `{prefix}.`, found {}",
                    other.describe()
                )))
            }
        };
        self.next();
        // Unquoted names may hold dots: params.optimizer.lr.
        while *self.peek() == Tok::Dot {
            if let Some((Tok::Word(w), _)) = self.toks.get(self.i + 1) {
                name = format!("{name}.{w}");
                self.i += 2;
            } else {
                break;
            }
        }
        if agg.is_some() {
            self.expect(Tok::RParen, "`)` closing the function")?;
        }
        if source == Source::Attribute {
            name = match name.to_ascii_lowercase().as_str() {
                "status" => "status",
                "run_name" | "run" | "name" | "run_id" => "run",
                "start_time" => "start_time",
                "end_time" => "end_time",
                "duration" => "duration",
                "last_step" | "step" => "last_step",
                _ => {
                    return Err(QueryError {
                        message: format!(
                            "unknown attribute `{name}`: expected status, run_name, start_time, \
                             end_time, duration or last_step"
                        ),
                        input: self.input.to_owned(),
                        position: start,
                    })
                }
            }
            .to_owned();
        }
        Ok(Key { source, name })
    }

    fn value(&mut self) -> Result<Cell, QueryError> {
        let cell = match self.peek() {
            Tok::Quoted(q, '\'' | '"') => Cell::Text(q.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Cell::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Cell::Bool(false),
            Tok::Word(w) if w.parse::<f64>().is_ok() => Cell::Number(w.parse().unwrap_or(0.0)),
            other => {
                return Err(self.error(format!(
                    "expected a number or a 'quoted string', found {}",
                    other.describe()
                )))
            }
        };
        self.next();
        Ok(cell)
    }

    fn comparison(&mut self) -> Result<Filter, QueryError> {
        let key = self.key()?;
        if self.eat_keyword("is") {
            let negate = self.eat_keyword("not");
            if !self.eat_keyword("null") {
                return Err(self.error(format!(
                    "expected NULL after IS, found {}",
                    self.peek().describe()
                )));
            }
            let f = Filter::IsNull(key);
            return Ok(if negate { Filter::Not(Box::new(f)) } else { f });
        }
        let negate = self.eat_keyword("not");
        if self.eat_keyword("in") {
            self.expect(Tok::LParen, "`(` after IN")?;
            let mut values = vec![self.value()?];
            while *self.peek() == Tok::Comma {
                self.next();
                values.push(self.value()?);
            }
            self.expect(Tok::RParen, "`)` closing the IN list")?;
            let f = Filter::In(key, values);
            return Ok(if negate { Filter::Not(Box::new(f)) } else { f });
        }
        let op = match self.peek().clone() {
            Tok::Op(o) if !negate => match o {
                "=" | "==" => Op::Eq,
                "!=" | "<>" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("like") => Op::Like,
            Tok::Word(w) if w.eq_ignore_ascii_case("ilike") => Op::ILike,
            other => {
                return Err(self.error(format!(
                    "expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) after `{key}`, found {}",
                    other.describe()
                )))
            }
        };
        self.next();
        let value = self.value()?;
        let f = Filter::Compare(key, op, value);
        Ok(if negate { Filter::Not(Box::new(f)) } else { f })
    }
}

impl Filter {
    /// Parses a filter.
    pub fn parse(input: &str) -> Result<Filter, QueryError> {
        let mut p = Parser::new(input)?;
        if *p.peek() == Tok::End {
            return Err(p.error("empty filter"));
        }
        let f = p.or()?;
        if *p.peek() != Tok::End {
            return Err(p.error(format!(
                "expected AND, OR or the end, found {}",
                p.peek().describe()
            )));
        }
        Ok(f)
    }

    /// True when `row` passes (a comparison with a missing value fails, as in SQL).
    pub fn matches(&self, row: &dyn Lookup) -> bool {
        self.eval(row) == Some(true)
    }

    /// SQL's three-valued logic: `None` is unknown.
    fn eval(&self, row: &dyn Lookup) -> Option<bool> {
        match self {
            Filter::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::Not(a) => a.eval(row).map(|x| !x),
            Filter::IsNull(k) => Some(row.get(k).is_none()),
            Filter::In(k, values) => {
                let v = row.get(k)?;
                Some(values.iter().any(|x| compare(k, &v, Op::Eq, x)))
            }
            Filter::Compare(k, op, value) => {
                let v = row.get(k)?;
                Some(compare(k, &v, *op, value))
            }
        }
    }

    /// Every key the filter looks at.
    pub fn keys(&self) -> Vec<&Key> {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mut k = a.keys();
                k.extend(b.keys());
                k
            }
            Filter::Not(a) => a.keys(),
            Filter::Compare(k, _, _) | Filter::In(k, _) | Filter::IsNull(k) => vec![k],
        }
    }
}

/// MLflow's status names as TensorBoard's.
fn status_alias(s: &str) -> String {
    match s.to_ascii_uppercase().as_str() {
        "FINISHED" => "SUCCESS".into(),
        "FAILED" => "FAILURE".into(),
        other => other.to_owned(),
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Dynamic programming over (pattern prefix, text prefix).
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (pc == '_' || pc == t[j - 1]);
            }
        }
        row = next;
    }
    row[t.len()]
}

fn compare(key: &Key, v: &Cell, op: Op, lit: &Cell) -> bool {
    if let (Op::Like | Op::ILike, Cell::Text(pattern)) = (op, lit) {
        let text = v.text();
        return if op == Op::ILike {
            like(&text.to_lowercase(), &pattern.to_lowercase())
        } else {
            like(&text, pattern)
        };
    }
    let ord = match (v, lit) {
        (Cell::Bool(a), Cell::Bool(b)) => Some(a.cmp(b)),
        (Cell::Bool(a), Cell::Text(b)) => Some(a.to_string().cmp(&b.to_ascii_lowercase())),
        (Cell::Number(a), Cell::Number(b)) if matches!(key.source, Source::Metric(_)) => {
            a.partial_cmp(&at_precision_of(*a, *b))
        }
        (_, Cell::Number(b)) => v.as_number().and_then(|a| a.partial_cmp(b)),
        // A parameter stored as text compares as a number when both sides read as one, quoted
        // literal or not.
        (Cell::Text(a), Cell::Text(b)) if key.source == Source::Param => {
            match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y),
                _ => Some(a.as_str().cmp(b.as_str())),
            }
        }
        (Cell::Number(a), Cell::Text(b)) => match b.trim().parse::<f64>() {
            Ok(b) => a.partial_cmp(&b),
            Err(_) => Some(format_number(*a).cmp(b)),
        },
        (Cell::Text(a), Cell::Text(b)) => {
            if key.source == Source::Attribute && key.name == "status" {
                Some(status_alias(a).cmp(&status_alias(b)))
            } else {
                Some(a.as_str().cmp(b.as_str()))
            }
        }
        (_, Cell::Bool(_)) => None,
    };
    let Some(ord) = ord else {
        return op == Op::Ne;
    };
    match op {
        Op::Eq | Op::Like | Op::ILike => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

/// The literal `lit` as it would have been stored beside the metric value `value`: most
/// scalars are written as float32, so a value that is exactly a float32 is compared with the
/// literal rounded to float32 (`0.914` then equals the stored 0.9139999747...).
fn at_precision_of(value: f64, lit: f64) -> f64 {
    if value.is_finite() && f64::from(value as f32) == value {
        f64::from(lit as f32)
    } else {
        lit
    }
}

/// One key of an order-by.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// The key.
    pub key: Key,
    /// True for `DESC`.
    pub descending: bool,
}

/// Parses `key [ASC|DESC], ...`.
pub fn parse_order_by(input: &str) -> Result<Vec<OrderKey>, QueryError> {
    let mut p = Parser::new(input)?;
    let mut keys = Vec::new();
    loop {
        let key = p.key()?;
        let descending = if p.eat_keyword("desc") {
            true
        } else {
            p.eat_keyword("asc");
            false
        };
        keys.push(OrderKey { key, descending });
        match p.peek() {
            Tok::Comma => {
                p.next();
            }
            Tok::End => return Ok(keys),
            other => {
                return Err(p.error(format!(
                    "expected ASC, DESC, `,` or the end, found {}",
                    other.describe()
                )))
            }
        }
    }
}

/// Orders two runs by `keys`: NaN and then missing values last whatever the direction,
/// numbers before text, text by code point.
pub fn order(a: &dyn Lookup, b: &dyn Lookup, keys: &[OrderKey]) -> Ordering {
    // 0: an ordinary value, 1: NaN, 2: missing.
    let class = |c: &Option<Cell>| match c {
        None => 2,
        Some(Cell::Number(x)) if x.is_nan() => 1,
        Some(_) => 0,
    };
    for k in keys {
        let (x, y) = (a.get(&k.key), b.get(&k.key));
        let (cx, cy) = (class(&x), class(&y));
        if cx != cy {
            return cx.cmp(&cy);
        }
        let ord = match (&x, &y) {
            (Some(x), Some(y)) if cx == 0 => {
                let o = cell_order(x, y);
                if k.descending {
                    o.reverse()
                } else {
                    o
                }
            }
            // Both NaN or both missing.
            _ => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn cell_order(x: &Cell, y: &Cell) -> Ordering {
    match (x.as_number(), y.as_number()) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => x.text().cmp(&y.text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Row(HashMap<String, Cell>);

    impl Lookup for Row {
        fn get(&self, key: &Key) -> Option<Cell> {
            self.0.get(&key.to_string()).cloned()
        }
    }

    fn row(pairs: &[(&str, Cell)]) -> Row {
        Row(pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect())
    }

    fn num(x: f64) -> Cell {
        Cell::Number(x)
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn runs() -> Vec<(&'static str, Row)> {
        vec![
            (
                "a",
                row(&[
                    ("metrics.val/mAP", num(0.9)),
                    ("max(metrics.val/mAP)", num(0.95)),
                    ("params.lr", num(0.001)),
                    ("params.optimizer", text("adam")),
                    ("status", text("SUCCESS")),
                ]),
            ),
            (
                "b",
                row(&[
                    ("metrics.val/mAP", num(0.8)),
                    ("max(metrics.val/mAP)", num(0.88)),
                    ("params.lr", text("0.01")),
                    ("params.optimizer", text("SGD")),
                    ("status", text("FAILURE")),
                ]),
            ),
            (
                "c",
                row(&[
                    ("params.lr", num(0.1)),
                    ("params.amp", Cell::Bool(true)),
                    ("status", text("RUNNING")),
                ]),
            ),
        ]
    }

    fn select(filter: &str) -> Vec<&'static str> {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{e}"));
        runs()
            .into_iter()
            .filter(|(_, r)| f.matches(r))
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn comparisons_and_keys() {
        assert_eq!(select("metrics.`val/mAP` > 0.85"), vec!["a"]);
        assert_eq!(select("metrics.\"val/mAP\" >= 0.8"), vec!["a", "b"]);
        assert_eq!(select("metrics.val/mAP < 0.85"), vec!["b"]);
        assert_eq!(select("max(metrics.`val/mAP`) > 0.87"), vec!["a", "b"]);
        assert_eq!(select("MAX(metrics.`val/mAP`) > 0.9"), vec!["a"]);
        // A parameter stored as text compares as a number against a number.
        assert_eq!(select("params.lr < 0.05"), vec!["a", "b"]);
        assert_eq!(select("params.lr = 0.01"), vec!["b"]);
        assert_eq!(select("params.lr = '0.01'"), vec!["b"]);
        assert_eq!(select("attributes.status = 'SUCCESS'"), vec!["a"]);
        assert_eq!(select("attributes.status = 'FINISHED'"), vec!["a"]);
        assert_eq!(select("attributes.status != 'FAILED'"), vec!["a", "c"]);
        assert_eq!(select("params.amp = true"), vec!["c"]);
        assert_eq!(select("params.optimizer LIKE 'a%'"), vec!["a"]);
        assert_eq!(select("params.optimizer ILIKE 's_d'"), vec!["b"]);
        assert_eq!(select("params.optimizer NOT LIKE 'a%'"), vec!["b"]);
        assert_eq!(select("params.optimizer IN ('adam', 'sgd')"), vec!["a"]);
        assert_eq!(select("params.optimizer NOT IN ('adam')"), vec!["b"]);
        assert_eq!(select("metrics.`val/mAP` IS NULL"), vec!["c"]);
        assert_eq!(select("metrics.`val/mAP` IS NOT NULL"), vec!["a", "b"]);
        assert_eq!(select("params.lr > 1e-2"), vec!["c"]);
        assert_eq!(select("params.lr >= .01"), vec!["b", "c"]);
    }

    #[test]
    fn precedence_and_null_logic() {
        // AND binds tighter than OR.
        assert_eq!(
            select(
                "attributes.status = 'RUNNING' or params.lr < 0.005 and metrics.`val/mAP` > 0.5"
            ),
            vec!["a", "c"]
        );
        assert_eq!(
            select(
                "(attributes.status = 'RUNNING' or params.lr < 0.05) and metrics.`val/mAP` > 0.5"
            ),
            vec!["a", "b"]
        );
        // A missing metric fails a comparison and its negation.
        assert_eq!(select("not metrics.`val/mAP` > 0.85"), vec!["b"]);
        assert_eq!(select("NOT (params.lr < 0.05)"), vec!["c"]);
        assert_eq!(
            select(
                "metrics.`val/mAP` > 0.85 AND params.lr < 0.01 AND attributes.status = 'SUCCESS'"
            ),
            vec!["a"]
        );
        let f = Filter::parse("a.b = 1").unwrap_err();
        assert!(f.message.contains("unknown key `a`"), "{f}");
    }

    #[test]
    fn bad_filters_point_at_the_token() {
        let cases = [
            ("metrics.x 0.5", 10, "expected a comparison"),
            ("metrics.x > ", 12, "expected a number"),
            ("metrics.x > 0.5 and", 19, "expected a key"),
            ("metrics.x > 0.5 params.y = 1", 16, "expected AND, OR"),
            ("metrix.x > 1", 0, "unknown key `metrix`"),
            ("(metrics.x > 1", 14, "expected `)`"),
            ("metrics.`x > 1", 8, "unclosed `"),
            ("attributes.color = 'red'", 0, "unknown attribute `color`"),
            ("avg(metrics.x) > 1", 0, "unknown function"),
            ("min(params.x) > 1", 4, "metrics only"),
            ("params.x = bogus", 11, "expected a number"),
            ("metrics.x ! 1", 10, "`!` must be followed"),
            ("", 0, "empty filter"),
            ("metrics.x > 1 ; drop", 14, "unexpected character `;`"),
        ];
        for (input, pos, msg) in cases {
            let e = Filter::parse(input).expect_err(input);
            assert!(e.message.contains(msg), "{input:?}: {e}");
            assert_eq!(e.position, pos, "{input:?}: {e}");
        }
        let shown = Filter::parse("metrics.x 0.5").unwrap_err().to_string();
        assert!(shown.ends_with("  metrics.x 0.5\n            ^"), "{shown}");
    }

    #[test]
    fn order_by_several_keys_with_missing_last() {
        let keys = parse_order_by("metrics.`val/mAP` DESC, params.lr asc").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].descending && !keys[1].descending);
        let rs = runs();
        let mut idx: Vec<usize> = (0..rs.len()).collect();
        idx.sort_by(|&i, &j| order(&rs[i].1, &rs[j].1, &keys));
        let names: Vec<&str> = idx.iter().map(|&i| rs[i].0).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        let keys = parse_order_by("params.lr DESC").unwrap();
        idx.sort_by(|&i, &j| order(&rs[i].1, &rs[j].1, &keys));
        let names: Vec<&str> = idx.iter().map(|&i| rs[i].0).collect();
        assert_eq!(names, vec!["c", "b", "a"]);
        assert!(parse_order_by("params.lr sideways").is_err());
        assert!(parse_order_by("").is_err());
    }

    fn names_matching(rows: &[(&'static str, Row)], filter: &str) -> Vec<&'static str> {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{e}"));
        rows.iter()
            .filter(|(_, r)| f.matches(r))
            .map(|(n, _)| *n)
            .collect()
    }

    #[test]
    fn float32_metrics_compare_at_their_precision() {
        let rows = vec![
            // As TensorBoard stores 0.914 (simple_value is float32).
            ("f32", row(&[("metrics.acc", num(f64::from(0.914f32)))])),
            // A float64 scalar just below 0.914.
            ("f64", row(&[("metrics.acc", num(0.913_999_999))])),
        ];
        assert_eq!(names_matching(&rows, "metrics.acc = 0.914"), vec!["f32"]);
        assert_eq!(names_matching(&rows, "metrics.acc >= 0.914"), vec!["f32"]);
        assert_eq!(
            names_matching(&rows, "metrics.acc > 0.914"),
            Vec::<&str>::new()
        );
        assert_eq!(names_matching(&rows, "metrics.acc < 0.914"), vec!["f64"]);
        // Not for attributes: a start time that happens to be a float32 keeps its precision.
        let rows = vec![("t", row(&[("start_time", num(1_700_000_000.0))]))];
        assert_eq!(
            names_matching(&rows, "attributes.start_time < 1700000050"),
            vec!["t"]
        );
    }

    #[test]
    fn text_params_compare_as_numbers_with_quoted_literals_too() {
        let rows = vec![
            (
                "a",
                row(&[("params.bs", num(64.0)), ("params.lr", num(0.01))]),
            ),
            (
                "b",
                row(&[("params.bs", text("128")), ("params.lr", text("0.1"))]),
            ),
            (
                "c",
                row(&[("params.bs", text("64")), ("params.lr", text("1e-3"))]),
            ),
            (
                "d",
                row(&[("params.bs", text("big")), ("params.lr", text("auto"))]),
            ),
        ];
        // "big" is not a number: against a quoted literal it compares as text ("b" > "1"),
        // against a bare number not at all.
        assert_eq!(names_matching(&rows, "params.bs > '100'"), vec!["b", "d"]);
        assert_eq!(names_matching(&rows, "params.bs > 100"), vec!["b"]);
        assert_eq!(names_matching(&rows, "params.lr = '0.001'"), vec!["c"]);
        assert_eq!(names_matching(&rows, "params.lr < '0.05'"), vec!["a", "c"]);
        assert_eq!(names_matching(&rows, "params.lr < 0.05"), vec!["a", "c"]);
        // Text that is not a number still compares as text.
        assert_eq!(names_matching(&rows, "params.bs = 'big'"), vec!["d"]);
        assert_eq!(names_matching(&rows, "params.lr > 'a'"), vec!["d"]);
    }

    #[test]
    fn nan_sorts_after_numbers_and_before_missing_either_way() {
        let rows = [
            ("pos_nan", row(&[("metrics.loss", num(f64::NAN))])),
            ("one", row(&[("metrics.loss", num(1.0))])),
            ("none", row(&[])),
            ("neg_nan", row(&[("metrics.loss", num(-f64::NAN))])),
            ("two", row(&[("metrics.loss", num(2.0))])),
        ];
        let sorted = |spec: &str| {
            let keys = parse_order_by(spec).unwrap();
            let mut idx: Vec<usize> = (0..rows.len()).collect();
            idx.sort_by(|&i, &j| order(&rows[i].1, &rows[j].1, &keys));
            idx.iter().map(|&i| rows[i].0).collect::<Vec<_>>()
        };
        // The sort is stable: the two NaNs keep their input order.
        assert_eq!(
            sorted("metrics.loss ASC"),
            vec!["one", "two", "pos_nan", "neg_nan", "none"]
        );
        assert_eq!(
            sorted("metrics.loss DESC"),
            vec!["two", "one", "pos_nan", "neg_nan", "none"]
        );
    }

    #[test]
    fn like_patterns() {
        assert!(like("resnet50", "res%"));
        assert!(like("resnet50", "%50"));
        assert!(like("resnet50", "r_snet%"));
        assert!(!like("resnet50", "res"));
        assert!(like("", "%"));
        assert!(!like("a", ""));
    }

    #[test]
    fn numbers_print_as_written() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.001), "0.001");
        assert_eq!(format_number(f64::NAN), "nan");
        assert_eq!(format_number(-f64::INFINITY), "-inf");
    }
}
