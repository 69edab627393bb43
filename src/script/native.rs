//! Rhai functions run without the Rhai interpreter.
//!
//! Most rules users write in Rhai read a few fields, compare them, call a string method
//! or two and return a map. Rhai runs such a rule by walking its syntax tree with
//! dynamic values: every call resolves its function by hash, every value is boxed, and
//! the lead is a map looked up by name. That is most of the cost of a rule folder with
//! Rhai in it (about two thirds of the instructions per lead on
//! `benches/models/heavy`).
//!
//! [`NativeFn::compile`] translates a function whose every statement and expression is
//! in a small, closed subset (listed on [`Expr`] and [`Stmt`]) into a tree of its own,
//! with variables and fields resolved to indexes and methods to an enum; anything
//! outside the subset leaves the function to Rhai. [`NativeFn::run`] evaluates it on
//! the lead's values where they lie.
//!
//! The subset only ever gives what Rhai would. Wherever Rhai would fail or do something
//! not reproduced here (an overflow, a method on a type it does not handle, a sandbox
//! limit in reach), the run stops with [`Bail`] and the caller runs the function in
//! Rhai, which gives the result or the error, worded as always. A test runs both over
//! the same scripts and leads (`native_runs_agree_with_rhai`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use rhai::{AST, ASTFlags, Dynamic, Expr as RhaiExpr, FnCallExpr, Stmt as RhaiStmt, StmtBlock};

use super::{Limits, ScriptOutcome};
use crate::date::Date;
use crate::lead::{Slot, Value};

/// The run met something only Rhai does: run the function in Rhai instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// A Rhai function translated into the subset this module evaluates.
#[derive(Debug)]
pub(crate) struct NativeFn {
    body: Block,
    /// Local variables, counted (each `let` and `for` has a slot of its own).
    locals: usize,
    /// The lead fields read, by the names the script uses.
    fields: Vec<String>,
    /// Their slots, once resolved ([`NativeFn::resolve`]).
    slots: Vec<Slot>,
    /// The sandbox's size limits: a run that comes to one leaves the call to Rhai, which
    /// enforces them.
    limits: Limits,
}

type Block = Box<[Stmt]>;

/// Statements of the subset.
#[derive(Debug)]
enum Stmt {
    /// `let name = value;`
    Let(usize, Expr),
    /// `name = value;`, or `name += value;` and the like with the operator.
    Assign(usize, Option<Op>, Expr),
    /// `if cond { } else { }`: an `if` without `else` has an empty branch.
    If(Box<(Expr, Block, Block)>),
    /// `for name in array { }`
    For(usize, Box<(Expr, Block)>),
    /// `return value;` or `return;`
    Return(Option<Expr>),
    /// An expression; its value is the block's if it comes last.
    Expr(Expr),
    /// An empty statement.
    Nothing,
}

/// Expressions of the subset.
#[derive(Debug)]
enum Expr {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Local(usize),
    /// `lead.name` or `lead["name"]`: an index into [`NativeFn::fields`].
    Field(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Op, Box<(Expr, Expr)>),
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    /// `a ?? b`: the first value that is not `()`.
    Coalesce(Box<[Expr]>),
    /// `receiver.method(args)`; `item in container` is `container.contains(item)`.
    Method(Method, Box<Expr>, Box<[Expr]>),
    /// `days_since(date)`, `is_blank(text)`, `as_of()`.
    Helper(Helper, Box<[Expr]>),
    /// `` `text ${value} text` ``.
    Interpolated(Box<[Expr]>),
    Array(Box<[Expr]>),
    /// An array of text literals, built once (`["rivalsoft.com", "competico.io"]`).
    Texts(Box<[Box<str>]>),
    Map(Box<[(Box<str>, Expr)]>),
    /// A block used as a value (`if` as an expression).
    Block(Block),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    ToLower,
    ToUpper,
    Len,
    IsEmpty,
    Contains,
    StartsWith,
    EndsWith,
    IndexOf,
    SubString,
    ToInt,
    ToFloat,
    Abs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Helper {
    AsOf,
    DaysSince,
    IsBlank,
}

/// A value during a run. Text borrows the lead's values and the function's literals
/// where it can; text a run makes is shared, so reading a variable copies nothing.
#[derive(Debug, Clone)]
enum Val<'a> {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text<'a>),
    Array(Rc<Vec<Val<'a>>>),
    /// An array of text literals, as compiled.
    Texts(&'a [Box<str>]),
    Map(Rc<Vec<(&'a str, Val<'a>)>>),
}

#[derive(Debug, Clone)]
enum Text<'a> {
    Borrowed(&'a str),
    /// Text a run made: shared, and taken back without a copy when it is last used
    /// (a rule's reason).
    Made(Rc<String>),
}

impl Text<'_> {
    fn into_string(self) -> String {
        match self {
            Text::Borrowed(s) => s.to_string(),
            Text::Made(s) => Rc::try_unwrap(s).unwrap_or_else(|shared| (*shared).clone()),
        }
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Made(s) => s,
        }
    }
}

/// Where a block's run ended: at its end with its value, or at a `return`.
enum Flow<'a> {
    Value(Val<'a>),
    Return(Val<'a>),
}

/// Upper bound on the statements and expressions one run may evaluate before Rhai's
/// own count of operations could come near `max_operations`: Rhai counts about one
/// operation per node, so four nodes to one leaves a wide margin.
const NODES_PER_OPERATION: u64 = 4;

/// Translating a function: names in scope, and what it reads.
struct Compiler<'p> {
    param: &'p str,
    /// Variables in scope, innermost last: name, local slot, and whether it is a
    /// constant (which Rhai does not let a script assign to).
    scope: Vec<(String, usize, bool)>,
    locals: usize,
    fields: Vec<String>,
    /// Names of the file's own functions: a call to one of these, even one named like
    /// a method handled here, is the script's, not Rhai's.
    script_fns: &'p [&'p str],
}

impl NativeFn {
    /// Translates a function of one parameter (the lead), or `None` when it uses
    /// anything outside the subset or could come near a sandbox limit.
    pub fn compile(
        ast: &AST,
        param: &str,
        script_fns: &[&str],
        limits: &Limits,
    ) -> Option<NativeFn> {
        // Calls nest one deep; Rhai needs room for at least that.
        if limits.max_call_depth < 1 {
            return None;
        }
        let mut compiler = Compiler {
            param,
            scope: Vec::new(),
            locals: 0,
            fields: Vec::new(),
            script_fns,
        };
        // The body's statements are the walk's outermost nodes; the compiler goes down
        // into each by itself.
        let mut body = Some(Vec::new());
        ast.walk(&mut |path: &[rhai::ASTNode]| {
            if let ([rhai::ASTNode::Stmt(stmt)], Some(statements)) = (path, &mut body) {
                match compiler.stmt(stmt) {
                    Some(stmt) => statements.push(stmt),
                    None => body = None,
                }
            }
            body.is_some()
        });
        let body: Block = body?.into();
        let nodes = most_nodes(&body);
        if nodes.saturating_mul(NODES_PER_OPERATION) > limits.max_operations {
            return None;
        }
        Some(NativeFn {
            body,
            locals: compiler.locals,
            fields: compiler.fields,
            slots: Vec::new(),
            limits: *limits,
        })
    }

    /// The lead fields the function reads, by name.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Gives each field read its slot, in the order of [`NativeFn::fields`].
    pub fn resolve(&mut self, slots: Vec<Slot>) {
        self.slots = slots;
    }

    /// Runs the function as a rule: what it returned, as Rhai's result would be read.
    ///
    /// # Errors
    /// [`Bail`] when only Rhai can say: the caller runs the function in Rhai.
    pub fn run_rule(
        &self,
        values: &[Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<Option<ScriptOutcome>, Bail> {
        let result = self.run(values, as_of)?;
        rule_outcome(result)
    }

    /// Runs the function as an `expr:` condition.
    ///
    /// # Errors
    /// [`Bail`] when only Rhai can say, a result that is not a boolean included.
    pub fn run_condition(
        &self,
        values: &[Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<bool, Bail> {
        match self.run(values, as_of)? {
            Val::Bool(b) => Ok(b),
            _ => Err(Bail),
        }
    }

    fn run<'a>(
        &'a self,
        values: &'a [Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<Val<'a>, Bail> {
        if self.slots.len() != self.fields.len() {
            return Err(Bail);
        }
        // Most rules have a handful of variables: kept on the stack.
        let mut inline: [Val<'a>; INLINE_LOCALS] = std::array::from_fn(|_| Val::Unit);
        let mut heap = Vec::new();
        let locals: &mut [Val<'a>] = if self.locals <= INLINE_LOCALS {
            &mut inline[..self.locals]
        } else {
            heap.resize(self.locals, Val::Unit);
            &mut heap
        };
        let mut run = Run {
            function: self,
            values,
            as_of,
            locals: &mut locals[..],
        };
        match run.block(&self.body)? {
            Flow::Value(v) | Flow::Return(v) => Ok(v),
        }
    }
}

impl Compiler<'_> {
    fn block(&mut self, block: &StmtBlock) -> Option<Block> {
        let depth = self.scope.len();
        let statements = block
            .statements()
            .iter()
            .map(|s| self.stmt(s))
            .collect::<Option<Block>>();
        self.scope.truncate(depth);
        statements
    }

    fn stmt(&mut self, stmt: &RhaiStmt) -> Option<Stmt> {
        Some(match stmt {
            RhaiStmt::Noop(_) => Stmt::Nothing,
            RhaiStmt::Expr(e) => Stmt::Expr(self.expr(e)?),
            RhaiStmt::FnCall(call, _) => Stmt::Expr(self.call(call)?),
            RhaiStmt::Block(block) => Stmt::Expr(Expr::Block(self.block(block)?)),
            RhaiStmt::Var(var, flags, _) if flags.is_empty() || *flags == ASTFlags::CONSTANT => {
                let (name, value, _) = &**var;
                let value = self.expr(value)?;
                let slot = self.declare(name.as_str(), flags.contains(ASTFlags::CONSTANT));
                Stmt::Let(slot, value)
            }
            RhaiStmt::Assignment(assignment) => {
                let (how, target) = &**assignment;
                let RhaiExpr::Variable(var, ..) = &target.lhs else {
                    return None;
                };
                if !var.2.is_empty() {
                    return None;
                }
                let name = var.1.as_str();
                let (_, slot, constant) = self.scope.iter().rev().find(|(n, ..)| n == name)?;
                if *constant {
                    return None;
                }
                let slot = *slot;
                let op = match how.get_op_assignment_info() {
                    None => None,
                    Some((.., op_syntax)) => Some(arithmetic_operator(op_syntax)?),
                };
                Stmt::Assign(slot, op, self.expr(&target.rhs)?)
            }
            RhaiStmt::If(flow, _) => {
                let cond = self.expr(&flow.expr)?;
                let then = self.block(&flow.body)?;
                let otherwise = self.block(&flow.branch)?;
                Stmt::If(Box::new((cond, then, otherwise)))
            }
            RhaiStmt::For(for_loop, _) => {
                let (name, counter, flow) = &**for_loop;
                if counter.is_some() {
                    return None;
                }
                let items = self.expr(&flow.expr)?;
                let depth = self.scope.len();
                let slot = self.declare(name.as_str(), false);
                let body = self.block(&flow.body);
                self.scope.truncate(depth);
                Stmt::For(slot, Box::new((items, body?)))
            }
            RhaiStmt::Return(value, flags, _) if flags.is_empty() => Stmt::Return(match value {
                Some(v) => Some(self.expr(v)?),
                None => None,
            }),
            _ => return None,
        })
    }

    fn declare(&mut self, name: &str, constant: bool) -> usize {
        let slot = self.locals;
        self.locals += 1;
        self.scope.push((name.to_string(), slot, constant));
        slot
    }

    fn expr(&mut self, expr: &RhaiExpr) -> Option<Expr> {
        Some(match expr {
            RhaiExpr::Unit(_) => Expr::Unit,
            RhaiExpr::BoolConstant(b, _) => Expr::Bool(*b),
            RhaiExpr::IntegerConstant(n, _) => Expr::Int(*n),
            RhaiExpr::FloatConstant(x, _) => Expr::Float(**x),
            RhaiExpr::StringConstant(s, _) => Expr::Str(s.as_str().into()),
            RhaiExpr::DynamicConstant(value, _) => constant(value)?,
            RhaiExpr::InterpolatedString(parts, _) => {
                Expr::Interpolated(parts.iter().map(|p| self.expr(p)).collect::<Option<_>>()?)
            }
            RhaiExpr::Array(items, _) => {
                texts_if_literal(items.iter().map(|i| self.expr(i)).collect::<Option<_>>()?)
            }
            RhaiExpr::Map(map, _) => {
                let (entries, _) = &**map;
                Expr::Map(
                    entries
                        .iter()
                        .map(|(key, value)| Some((key.as_str().into(), self.expr(value)?)))
                        .collect::<Option<_>>()?,
                )
            }
            RhaiExpr::Variable(var, _, _) => {
                if !var.2.is_empty() {
                    return None;
                }
                let name = var.1.as_str();
                let (_, slot, _) = self.scope.iter().rev().find(|(n, ..)| n == name)?;
                Expr::Local(*slot)
            }
            RhaiExpr::Stmt(block) => Expr::Block(self.block(block)?),
            RhaiExpr::FnCall(call, _) => self.call(call)?,
            RhaiExpr::And(parts, _) => {
                Expr::And(parts.iter().map(|p| self.expr(p)).collect::<Option<_>>()?)
            }
            RhaiExpr::Or(parts, _) => {
                Expr::Or(parts.iter().map(|p| self.expr(p)).collect::<Option<_>>()?)
            }
            RhaiExpr::Coalesce(parts, _) => {
                Expr::Coalesce(parts.iter().map(|p| self.expr(p)).collect::<Option<_>>()?)
            }
            RhaiExpr::Dot(chain, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                self.dot(&chain.lhs, &chain.rhs)?
            }
            RhaiExpr::Index(chain, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                match (&chain.lhs, &chain.rhs) {
                    (RhaiExpr::Variable(var, ..), RhaiExpr::StringConstant(name, _))
                        if self.is_lead(var.1.as_str()) && var.2.is_empty() =>
                    {
                        self.field(name.as_str())
                    }
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// True when `name` is the lead parameter and no variable hides it.
    fn is_lead(&self, name: &str) -> bool {
        name == self.param && !self.scope.iter().any(|(n, ..)| n == name)
    }

    fn field(&mut self, name: &str) -> Expr {
        let index = match self.fields.iter().position(|f| f == name) {
            Some(index) => index,
            None => {
                self.fields.push(name.to_string());
                self.fields.len() - 1
            }
        };
        Expr::Field(index)
    }

    /// `lhs.rhs`, where `rhs` is a property, a method call, or a chain of them
    /// (`lead.email.to_lower().index_of("@")`).
    fn dot(&mut self, lhs: &RhaiExpr, rhs: &RhaiExpr) -> Option<Expr> {
        let receiver = match lhs {
            RhaiExpr::Variable(var, ..) if self.is_lead(var.1.as_str()) && var.2.is_empty() => {
                // The first link must name a field: `lead.email...`.
                let (first, rest) = match rhs {
                    RhaiExpr::Property(p, _) => (p.2.as_str(), None),
                    RhaiExpr::Dot(inner, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                        match &inner.lhs {
                            RhaiExpr::Property(p, _) => (p.2.as_str(), Some(&inner.rhs)),
                            _ => return None,
                        }
                    }
                    _ => return None,
                };
                let field = self.field(first);
                return match rest {
                    None => Some(field),
                    Some(rest) => self.links(field, rest),
                };
            }
            other => self.expr(other)?,
        };
        self.links(receiver, rhs)
    }

    /// Applies method calls to `receiver`: `rhs` is one call or a chain of them.
    fn links(&mut self, receiver: Expr, rhs: &RhaiExpr) -> Option<Expr> {
        match rhs {
            RhaiExpr::MethodCall(call, _) => self.method(receiver, call),
            RhaiExpr::Dot(inner, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                let RhaiExpr::MethodCall(call, _) = &inner.lhs else {
                    return None;
                };
                let receiver = self.method(receiver, call)?;
                self.links(receiver, &inner.rhs)
            }
            _ => None,
        }
    }

    fn method(&mut self, receiver: Expr, call: &FnCallExpr) -> Option<Expr> {
        if !call.namespace.is_empty() || self.script_fns.contains(&call.name.as_str()) {
            return None;
        }
        let (method, arity) = match call.name.as_str() {
            "to_lower" => (Method::ToLower, 0),
            "to_upper" => (Method::ToUpper, 0),
            "len" => (Method::Len, 0),
            "is_empty" => (Method::IsEmpty, 0),
            "contains" => (Method::Contains, 1),
            "starts_with" => (Method::StartsWith, 1),
            "ends_with" => (Method::EndsWith, 1),
            "index_of" => (Method::IndexOf, 1),
            "sub_string" => (Method::SubString, 1),
            "to_int" => (Method::ToInt, 0),
            "to_float" => (Method::ToFloat, 0),
            "abs" => (Method::Abs, 0),
            _ => return None,
        };
        if call.args.len() != arity {
            return None;
        }
        let args = call
            .args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Option<_>>()?;
        Some(Expr::Method(method, Box::new(receiver), args))
    }

    /// An operator, or a call of one of leadscore's helpers.
    fn call(&mut self, call: &FnCallExpr) -> Option<Expr> {
        if !call.namespace.is_empty() || call.capture_parent_scope {
            return None;
        }
        let name = call.name.as_str();
        let operator_call = call.op_token.is_some() || is_operator(name);
        if !operator_call && self.script_fns.contains(&name) {
            return None;
        }
        let mut args = call
            .args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Option<Vec<_>>>()?
            .into_iter();
        if operator_call {
            return match (name, args.len()) {
                ("!", 1) => Some(Expr::Not(Box::new(args.next()?))),
                ("-", 1) => Some(Expr::Neg(Box::new(args.next()?))),
                (_, 2) => {
                    let op = operator(name)?;
                    let lhs = args.next()?;
                    let rhs = args.next()?;
                    Some(Expr::Binary(op, Box::new((lhs, rhs))))
                }
                _ => None,
            };
        }
        if name == "contains" && args.len() == 2 {
            // `item in container`, as Rhai writes it.
            let container = args.next()?;
            let item = args.next()?;
            return Some(Expr::Method(
                Method::Contains,
                Box::new(container),
                Box::new([item]),
            ));
        }
        let helper = match (name, args.len()) {
            ("as_of", 0) => Helper::AsOf,
            ("days_since", 1) => Helper::DaysSince,
            ("is_blank", 1) => Helper::IsBlank,
            _ => return None,
        };
        Some(Expr::Helper(helper, args.collect()))
    }
}

fn is_operator(name: &str) -> bool {
    matches!(
        name,
        "==" | "!=" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*" | "/" | "%" | "!"
    )
}

/// The operator of a compound assignment (`+=` is `+`): arithmetic only.
fn arithmetic_operator(name: &str) -> Option<Op> {
    operator(name).filter(|op| matches!(op, Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem))
}

fn operator(name: &str) -> Option<Op> {
    Some(match name {
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "%" => Op::Rem,
        _ => return None,
    })
}

/// A constant Rhai folded into one value (an array of literals).
fn constant(value: &Dynamic) -> Option<Expr> {
    if value.is_unit() {
        return Some(Expr::Unit);
    }
    if let Ok(b) = value.as_bool() {
        return Some(Expr::Bool(b));
    }
    if let Ok(n) = value.as_int() {
        return Some(Expr::Int(n));
    }
    if let Ok(x) = value.as_float() {
        return Some(Expr::Float(x));
    }
    if value.is_string() {
        return Some(Expr::Str(value.to_string().into()));
    }
    if value.is_array() {
        let items = value.read_lock::<rhai::Array>()?;
        return Some(texts_if_literal(
            items.iter().map(constant).collect::<Option<_>>()?,
        ));
    }
    if value.is_map() {
        let map = value.read_lock::<rhai::Map>()?;
        return Some(Expr::Map(
            map.iter()
                .map(|(key, value)| Some((key.as_str().into(), constant(value)?)))
                .collect::<Option<_>>()?,
        ));
    }
    None
}

/// An array, or an array of text literals when every item is one.
fn texts_if_literal(items: Box<[Expr]>) -> Expr {
    if !items.iter().all(|i| matches!(i, Expr::Str(_))) {
        return Expr::Array(items);
    }
    let texts = items
        .into_iter()
        .filter_map(|i| match i {
            Expr::Str(s) => Some(s),
            _ => None,
        })
        .collect();
    Expr::Texts(texts)
}

/// The most statements and expressions one run can evaluate: every node once, a loop's
/// body once per item of its array (a literal's length; a loop over anything else is
/// counted as many times as the largest array a run could hold is not known, so it is
/// taken as 1,000 items).
fn most_nodes(block: &[Stmt]) -> u64 {
    block.iter().map(stmt_nodes).fold(0, u64::saturating_add)
}

fn stmt_nodes(stmt: &Stmt) -> u64 {
    1 + match stmt {
        Stmt::Let(_, e) | Stmt::Assign(_, _, e) | Stmt::Expr(e) | Stmt::Return(Some(e)) => {
            expr_nodes(e)
        }
        Stmt::If(parts) => {
            let (cond, then, otherwise) = &**parts;
            expr_nodes(cond)
                .saturating_add(most_nodes(then))
                .saturating_add(most_nodes(otherwise))
        }
        Stmt::For(_, parts) => {
            let (items, body) = &**parts;
            let times = match items {
                Expr::Array(items) => items.len() as u64,
                Expr::Texts(items) => items.len() as u64,
                _ => 1_000,
            };
            expr_nodes(items).saturating_add(times.saturating_mul(most_nodes(body) + 1))
        }
        Stmt::Return(None) | Stmt::Nothing => 0,
    }
}

fn expr_nodes(expr: &Expr) -> u64 {
    let sum = |items: &[Expr]| items.iter().map(expr_nodes).fold(0, u64::saturating_add);
    1 + match expr {
        Expr::Unit
        | Expr::Bool(_)
        | Expr::Int(_)
        | Expr::Float(_)
        | Expr::Str(_)
        | Expr::Local(_)
        | Expr::Texts(_)
        | Expr::Field(_) => 0,
        Expr::Not(e) | Expr::Neg(e) => expr_nodes(e),
        Expr::Binary(_, pair) => expr_nodes(&pair.0).saturating_add(expr_nodes(&pair.1)),
        Expr::And(items)
        | Expr::Or(items)
        | Expr::Coalesce(items)
        | Expr::Interpolated(items)
        | Expr::Array(items)
        | Expr::Helper(_, items) => sum(items),
        Expr::Method(_, receiver, args) => expr_nodes(receiver).saturating_add(sum(args)),
        Expr::Map(entries) => entries
            .iter()
            .map(|(_, e)| expr_nodes(e))
            .fold(0, u64::saturating_add),
        Expr::Block(block) => most_nodes(block),
    }
}

/// One run of a function on one lead.
/// Variables a run keeps on the stack; a function with more has them on the heap.
const INLINE_LOCALS: usize = 8;

struct Run<'a, 'v, 'r> {
    function: &'a NativeFn,
    values: &'a [Option<Cow<'v, Value>>],
    as_of: Date,
    locals: &'r mut [Val<'a>],
}

impl<'a> Run<'a, '_, '_> {
    fn block(&mut self, block: &'a [Stmt]) -> Result<Flow<'a>, Bail> {
        let mut last = Val::Unit;
        for stmt in block {
            last = match stmt {
                Stmt::Nothing => Val::Unit,
                Stmt::Expr(e) => self.expr(e)?,
                Stmt::Let(slot, e) => {
                    let value = self.expr(e)?;
                    self.set(*slot, value)?;
                    Val::Unit
                }
                Stmt::Assign(slot, op, e) => {
                    let value = self.expr(e)?;
                    let value = match op {
                        None => value,
                        Some(op) => {
                            let old = self.locals.get(*slot).ok_or(Bail)?.clone();
                            self.arithmetic(*op, old, value)?
                        }
                    };
                    self.set(*slot, value)?;
                    Val::Unit
                }
                Stmt::If(parts) => {
                    let (cond, then, otherwise) = &**parts;
                    let branch = match self.expr(cond)? {
                        Val::Bool(true) => then,
                        Val::Bool(false) => otherwise,
                        _ => return Err(Bail),
                    };
                    match self.block(branch)? {
                        Flow::Value(v) => v,
                        done @ Flow::Return(_) => return Ok(done),
                    }
                }
                Stmt::For(slot, parts) => {
                    let (items, body) = &**parts;
                    match self.expr(items)? {
                        Val::Array(items) => {
                            for item in items.iter() {
                                self.set(*slot, item.clone())?;
                                if let done @ Flow::Return(_) = self.block(body)? {
                                    return Ok(done);
                                }
                            }
                        }
                        Val::Texts(items) => {
                            for item in items {
                                self.set(*slot, Val::Str(Text::Borrowed(item)))?;
                                if let done @ Flow::Return(_) = self.block(body)? {
                                    return Ok(done);
                                }
                            }
                        }
                        _ => return Err(Bail),
                    }
                    Val::Unit
                }
                Stmt::Return(value) => {
                    let value = match value {
                        Some(e) => self.expr(e)?,
                        None => Val::Unit,
                    };
                    return Ok(Flow::Return(value));
                }
            };
        }
        Ok(Flow::Value(last))
    }

    fn set(&mut self, slot: usize, value: Val<'a>) -> Result<(), Bail> {
        *self.locals.get_mut(slot).ok_or(Bail)? = value;
        Ok(())
    }

    fn expr(&mut self, expr: &'a Expr) -> Result<Val<'a>, Bail> {
        Ok(match expr {
            Expr::Unit => Val::Unit,
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Int(n) => Val::Int(*n),
            Expr::Float(x) => Val::Float(*x),
            Expr::Str(s) => Val::Str(Text::Borrowed(s)),
            Expr::Local(slot) => self.locals.get(*slot).ok_or(Bail)?.clone(),
            Expr::Field(index) => self.field(*index)?,
            Expr::Not(e) => match self.expr(e)? {
                Val::Bool(b) => Val::Bool(!b),
                _ => return Err(Bail),
            },
            Expr::Neg(e) => match self.expr(e)? {
                Val::Int(n) => Val::Int(n.checked_neg().ok_or(Bail)?),
                Val::Float(x) => Val::Float(-x),
                _ => return Err(Bail),
            },
            Expr::Binary(op, pair) => {
                let lhs = self.expr(&pair.0)?;
                let rhs = self.expr(&pair.1)?;
                self.binary(*op, lhs, rhs)?
            }
            Expr::And(parts) => {
                for part in parts.iter() {
                    match self.expr(part)? {
                        Val::Bool(true) => {}
                        Val::Bool(false) => return Ok(Val::Bool(false)),
                        _ => return Err(Bail),
                    }
                }
                Val::Bool(true)
            }
            Expr::Or(parts) => {
                for part in parts.iter() {
                    match self.expr(part)? {
                        Val::Bool(false) => {}
                        Val::Bool(true) => return Ok(Val::Bool(true)),
                        _ => return Err(Bail),
                    }
                }
                Val::Bool(false)
            }
            Expr::Coalesce(parts) => {
                let mut value = Val::Unit;
                for part in parts.iter() {
                    value = self.expr(part)?;
                    if !matches!(value, Val::Unit) {
                        break;
                    }
                }
                value
            }
            Expr::Method(method, receiver, args) => {
                let receiver = self.expr(receiver)?;
                let arg = match args.first() {
                    Some(a) => Some(self.expr(a)?),
                    None => None,
                };
                self.method(*method, receiver, arg)?
            }
            Expr::Helper(helper, args) => {
                let arg = match args.first() {
                    Some(a) => Some(self.expr(a)?),
                    None => None,
                };
                self.helper(*helper, arg)?
            }
            Expr::Interpolated(parts) => {
                let mut text = String::with_capacity(64);
                for part in parts.iter() {
                    match self.expr(part)? {
                        Val::Str(s) => text.push_str(&s),
                        Val::Int(n) => {
                            let _ = write!(text, "{n}");
                        }
                        Val::Float(x) => {
                            let _ = write!(text, "{}", rhai::FloatWrapper::new(x));
                        }
                        Val::Bool(b) => text.push_str(if b { "true" } else { "false" }),
                        Val::Unit => {}
                        _ => return Err(Bail),
                    }
                }
                self.made(text)?
            }
            Expr::Texts(items) => self.check_data(Val::Texts(items))?,
            Expr::Array(items) => {
                let items = items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_data(Val::Array(Rc::new(items)))?
            }
            Expr::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(key, e)| Ok((&**key, self.expr(e)?)))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_data(Val::Map(Rc::new(entries)))?
            }
            Expr::Block(block) => match self.block(block)? {
                Flow::Value(v) => v,
                // A `return` inside a block used as a value ends the whole function:
                // rare enough to leave to Rhai.
                Flow::Return(_) => return Err(Bail),
            },
        })
    }

    /// A field's value as the Rhai view of the lead holds it: missing and null are `()`.
    fn field(&self, index: usize) -> Result<Val<'a>, Bail> {
        let slot = *self.function.slots.get(index).ok_or(Bail)?;
        let values: &'a [Option<Cow<'_, Value>>] = self.values;
        let value = match values.get(slot).and_then(|v| v.as_deref()) {
            None | Some(Value::Null) => return Ok(Val::Unit),
            Some(value) => value,
        };
        Ok(match value {
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(n) => Val::Int(*n),
            Value::Float(x) => Val::Float(*x),
            Value::Text(s) => {
                self.check_size(s.len())?;
                Val::Str(Text::Borrowed(s))
            }
            _ => return Err(Bail),
        })
    }

    fn check_size(&self, len: usize) -> Result<(), Bail> {
        let limit = self.function.limits.max_string_size;
        if limit > 0 && len > limit {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    /// Rhai's check on an array or map it builds: the items and entries inside it, and
    /// the bytes of all its text, each within its limit.
    fn check_data(&self, value: Val<'a>) -> Result<Val<'a>, Bail> {
        let (items, entries, bytes) = data_size(&value);
        // At the limit already counts as over: Rhai's checks differ by one from place to
        // place, and leaving a run to Rhai is always safe.
        let over = |size: usize, limit: usize| limit > 0 && size >= limit;
        let limits = &self.function.limits;
        if over(items, limits.max_array_size)
            || over(entries, limits.max_map_size)
            || over(bytes, limits.max_string_size)
        {
            return Err(Bail);
        }
        Ok(value)
    }

    fn made(&self, text: String) -> Result<Val<'a>, Bail> {
        self.check_size(text.len())?;
        Ok(Val::Str(Text::Made(Rc::new(text))))
    }

    fn binary(&self, op: Op, lhs: Val<'a>, rhs: Val<'a>) -> Result<Val<'a>, Bail> {
        use std::cmp::Ordering;
        // Rhai compares infinities and NaN in ways of its own (infinity is not above 10):
        // left to it.
        if [&lhs, &rhs]
            .iter()
            .any(|v| matches!(v, Val::Float(x) if !x.is_finite()))
        {
            return Err(Bail);
        }
        let order = match (&lhs, &rhs) {
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
            (Val::Float(a), Val::Float(b)) => Some(tolerant_order(*a, *b)),
            (Val::Int(a), Val::Float(b)) => Some(tolerant_order(*a as f64, *b)),
            (Val::Float(a), Val::Int(b)) => Some(tolerant_order(*a, *b as f64)),
            (Val::Str(a), Val::Str(b)) => Some((**a).cmp(&**b)),
            _ => None,
        };
        let compare = |wanted: fn(Ordering) -> bool| -> Result<Val<'a>, Bail> {
            match order {
                Some(o) => Ok(Val::Bool(wanted(o))),
                None if same_kind(&lhs, &rhs) => Err(Bail),
                // Values of different types are never equal, and never order.
                None => Ok(Val::Bool(false)),
            }
        };
        match op {
            Op::Eq | Op::Ne => {
                let equal = match (&lhs, &rhs) {
                    (Val::Unit, Val::Unit) => true,
                    (Val::Bool(a), Val::Bool(b)) => a == b,
                    _ if order.is_some() => order == Some(Ordering::Equal),
                    _ if same_kind(&lhs, &rhs) => return Err(Bail),
                    _ => false,
                };
                Ok(Val::Bool(equal == (op == Op::Eq)))
            }
            Op::Lt => compare(Ordering::is_lt),
            Op::Le => compare(Ordering::is_le),
            Op::Gt => compare(Ordering::is_gt),
            Op::Ge => compare(Ordering::is_ge),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => self.arithmetic(op, lhs, rhs),
        }
    }

    fn arithmetic(&self, op: Op, lhs: Val<'a>, rhs: Val<'a>) -> Result<Val<'a>, Bail> {
        match (lhs, rhs) {
            (Val::Int(a), Val::Int(b)) => {
                let n = match op {
                    Op::Add => a.checked_add(b),
                    Op::Sub => a.checked_sub(b),
                    Op::Mul => a.checked_mul(b),
                    Op::Div => a.checked_div(b),
                    Op::Rem => a.checked_rem(b),
                    _ => None,
                };
                n.map(Val::Int).ok_or(Bail)
            }
            (Val::Str(a), Val::Str(b)) if op == Op::Add => {
                let mut text = String::with_capacity(a.len() + b.len());
                text.push_str(&a);
                text.push_str(&b);
                self.made(text)
            }
            (a, b) => {
                let (Some(a), Some(b)) = (as_float(&a), as_float(&b)) else {
                    return Err(Bail);
                };
                if matches!(op, Op::Div | Op::Rem) && b == 0.0 {
                    return Err(Bail);
                }
                let x = match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                    _ => a % b,
                };
                if x.is_finite() {
                    Ok(Val::Float(x))
                } else {
                    Err(Bail)
                }
            }
        }
    }

    fn method(
        &self,
        method: Method,
        receiver: Val<'a>,
        arg: Option<Val<'a>>,
    ) -> Result<Val<'a>, Bail> {
        if let Val::Array(_) | Val::Texts(_) = receiver {
            return match (method, arg) {
                (Method::Contains, Some(item)) => self.array_contains(&receiver, item),
                _ => Err(Bail),
            };
        }
        if let Val::Float(x) = receiver {
            return match method {
                Method::Abs => Ok(Val::Float(x.abs())),
                // Rhai's range check: values beyond i64 are an overflow error.
                Method::ToInt if x >= i64::MIN as f64 && x <= i64::MAX as f64 => {
                    Ok(Val::Int(x.trunc() as i64))
                }
                Method::ToFloat => Ok(Val::Float(x)),
                _ => Err(Bail),
            };
        }
        if let Val::Int(n) = receiver {
            return match method {
                Method::Abs => n.checked_abs().map(Val::Int).ok_or(Bail),
                Method::ToInt => Ok(Val::Int(n)),
                Method::ToFloat => Ok(Val::Float(n as f64)),
                _ => Err(Bail),
            };
        }
        let Val::Str(text) = receiver else {
            return Err(Bail);
        };
        let text_arg = || match &arg {
            Some(Val::Str(s)) => Ok(&**s),
            _ => Err(Bail),
        };
        Ok(match method {
            // Text without capitals is its own lower case: no copy (Rhai's result is
            // the same text).
            Method::ToLower if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) => {
                Val::Str(text)
            }
            Method::ToLower => self.made(text.to_lowercase())?,
            Method::ToUpper => self.made(text.to_uppercase())?,
            Method::Len => Val::Int(i64::try_from(char_count(&text)).map_err(|_| Bail)?),
            Method::IsEmpty => Val::Bool(text.is_empty()),
            Method::Contains => Val::Bool(text.contains(text_arg()?)),
            Method::StartsWith => Val::Bool(text.starts_with(text_arg()?)),
            Method::EndsWith => Val::Bool(text.ends_with(text_arg()?)),
            Method::IndexOf => {
                let needle = text_arg()?;
                Val::Int(match text.find(needle) {
                    // Nothing is found in empty text, not even empty text.
                    Some(_) if text.is_empty() => -1,
                    Some(at) => i64::try_from(char_count(&text[..at])).map_err(|_| Bail)?,
                    None => -1,
                })
            }
            Method::SubString => {
                let Some(Val::Int(start)) = arg else {
                    return Err(Bail);
                };
                let count = i64::try_from(char_count(&text)).map_err(|_| Bail)?;
                // A start below 0 counts from the end.
                let from = if start < 0 {
                    count.saturating_add(start).max(0)
                } else {
                    start
                };
                if from >= count {
                    Val::Str(Text::Borrowed(""))
                } else {
                    let skip = usize::try_from(from).map_err(|_| Bail)?;
                    let at = byte_offset(&text, skip);
                    match text {
                        // Borrowed text is cut where it lies.
                        Text::Borrowed(whole) => Val::Str(Text::Borrowed(&whole[at..])),
                        Text::Made(whole) => self.made(whole[at..].to_string())?,
                    }
                }
            }
            Method::ToInt | Method::ToFloat | Method::Abs => return Err(Bail),
        })
    }

    /// `item in array`: whether any item is `==` to it, as Rhai compares.
    fn array_contains(&self, array: &Val<'a>, item: Val<'a>) -> Result<Val<'a>, Bail> {
        let equal = |candidate: Val<'a>| {
            self.binary(Op::Eq, candidate, item.clone())
                .map(|v| matches!(v, Val::Bool(true)))
        };
        match array {
            Val::Array(items) => {
                for candidate in items.iter() {
                    if equal(candidate.clone())? {
                        return Ok(Val::Bool(true));
                    }
                }
            }
            Val::Texts(items) => {
                for candidate in items.iter() {
                    if equal(Val::Str(Text::Borrowed(candidate)))? {
                        return Ok(Val::Bool(true));
                    }
                }
            }
            _ => return Err(Bail),
        }
        Ok(Val::Bool(false))
    }

    fn helper(&self, helper: Helper, arg: Option<Val<'a>>) -> Result<Val<'a>, Bail> {
        Ok(match (helper, arg) {
            (Helper::AsOf, None) => self.made(self.as_of.to_string())?,
            (Helper::DaysSince, Some(Val::Str(date))) => match Date::parse(&date) {
                Some(then) => Val::Int(self.as_of.days_since(then)),
                None => Val::Unit,
            },
            (Helper::DaysSince, Some(Val::Unit)) => Val::Unit,
            (Helper::IsBlank, Some(Val::Str(text))) => Val::Bool(text.trim().is_empty()),
            (Helper::IsBlank, Some(Val::Unit)) => Val::Bool(true),
            _ => return Err(Bail),
        })
    }
}

/// How Rhai orders two numbers when one is a float: equal when they differ by at most
/// one machine epsilon relative to the larger magnitude (absolute when either is 0), so
/// `0.1 + 0.2 == 0.3`. Both are finite here.
fn tolerant_order(x: f64, y: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let scale = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    let difference = (x - y) / scale;
    if difference > f64::EPSILON {
        Ordering::Greater
    } else if difference < -f64::EPSILON {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// Items of arrays, entries of maps and bytes of text in a value, nested ones included.
fn data_size(value: &Val<'_>) -> (usize, usize, usize) {
    let add =
        |a: (usize, usize, usize), b: (usize, usize, usize)| (a.0 + b.0, a.1 + b.1, a.2 + b.2);
    match value {
        Val::Str(s) => (0, 0, s.len()),
        Val::Array(items) => items.iter().map(data_size).fold((items.len(), 0, 0), add),
        Val::Texts(items) => (items.len(), 0, items.iter().map(|s| s.len()).sum()),
        Val::Map(entries) => entries
            .iter()
            .map(|(_, v)| data_size(v))
            .fold((0, entries.len(), 0), add),
        Val::Unit | Val::Bool(_) | Val::Int(_) | Val::Float(_) => (0, 0, 0),
    }
}

/// Characters in text (Rhai counts characters, not bytes).
fn char_count(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Where the character numbered `chars` starts, in bytes (the end when there are fewer).
fn byte_offset(text: &str, chars: usize) -> usize {
    if text.is_ascii() {
        chars.min(text.len())
    } else {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(at, _)| at)
    }
}

fn as_float(value: &Val<'_>) -> Option<f64> {
    match value {
        Val::Int(n) => Some(*n as f64),
        Val::Float(x) => Some(*x),
        _ => None,
    }
}

/// True when both values are of a kind whose comparison Rhai decides by itself (two
/// arrays, two maps, a float that is not a number): left to Rhai.
fn same_kind(lhs: &Val<'_>, rhs: &Val<'_>) -> bool {
    let array = |v: &Val<'_>| matches!(v, Val::Array(_) | Val::Texts(_));
    std::mem::discriminant(lhs) == std::mem::discriminant(rhs)
        || (as_float(lhs).is_some() && as_float(rhs).is_some())
        || (array(lhs) && array(rhs))
}

/// What a rule returned, read as [`super::outcome`] reads Rhai's result; anything it
/// would reject is left to it, so its error is worded as always.
fn rule_outcome(result: Val<'_>) -> Result<Option<ScriptOutcome>, Bail> {
    match result {
        Val::Unit => Ok(None),
        Val::Bool(b) => Ok(b.then(ScriptOutcome::default)),
        Val::Int(points) => Ok(Some(ScriptOutcome {
            points,
            ..ScriptOutcome::default()
        })),
        Val::Map(entries) => {
            map_outcome(Rc::try_unwrap(entries).unwrap_or_else(|shared| (*shared).clone()))
                .map(Some)
        }
        _ => Err(Bail),
    }
}

fn map_outcome(entries: Vec<(&str, Val<'_>)>) -> Result<ScriptOutcome, Bail> {
    let mut out = ScriptOutcome::default();
    for (index, (key, _)) in entries.iter().enumerate() {
        // A key given twice keeps its last value in Rhai's map: left to Rhai.
        if entries[..index].iter().any(|(k, _)| k == key) {
            return Err(Bail);
        }
    }
    for (key, value) in entries {
        match key {
            "points" => match value {
                Val::Unit => {}
                Val::Int(n) => out.points = n,
                _ => return Err(Bail),
            },
            "signals" => out.signals = signals(&value)?,
            "reason" => out.reason = optional_text(value, "reason")?,
            "disqualify" => out.disqualify = optional_text(value, "disqualify")?,
            "score" => out.score = optional_text(value, "score")?.map(|s| Arc::from(s.as_str())),
            _ => return Err(Bail),
        }
    }
    Ok(out)
}

fn signals(value: &Val<'_>) -> Result<Vec<Arc<str>>, Bail> {
    match value {
        Val::Unit => Ok(Vec::new()),
        Val::Str(s) => Ok(vec![Arc::from(&**s)]),
        Val::Texts(items) => Ok(items.iter().map(|s| Arc::from(&**s)).collect()),
        Val::Array(items) => items
            .iter()
            .map(|item| match item {
                Val::Str(s) => Ok(Arc::from(&**s)),
                _ => Err(Bail),
            })
            .collect(),
        _ => Err(Bail),
    }
}

fn optional_text(value: Val<'_>, key: &str) -> Result<Option<String>, Bail> {
    match value {
        Val::Unit => Ok(None),
        Val::Bool(b) => Ok(b.then(|| key.to_string())),
        Val::Str(s) => Ok(Some(s.into_string())),
        _ => Err(Bail),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::super::{ScriptHost, ScriptRule, lead_to_dynamic};
    use super::*;
    use crate::lead::Schema;

    const CORPUS: &str = include_str!("../../fixtures/native/corpus.rhai");
    const HEAVY: &str = include_str!("../../benches/models/heavy/checks.rhai");
    const STARTER: &str = include_str!("../../rules/engagement.rhai");

    /// Random Rhai expressions of the subset, typed so most of them run: numbers, text
    /// and booleans over the number fields a and b and the text fields s and t. Every
    /// operation is in parentheses, so precedence never decides.
    struct Program(u64);

    impl Program {
        fn next(&mut self, below: u64) -> u64 {
            // xorshift64*: a fixed sequence per seed, so a failure reproduces.
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
        }

        fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
            from[self.next(from.len() as u64) as usize]
        }

        fn number(&mut self, depth: u32) -> String {
            let leaf = depth == 0 || self.next(3) == 0;
            if leaf {
                return self
                    .pick(&[
                        "lead.a",
                        "lead.b",
                        "3",
                        "-7",
                        "0",
                        "100",
                        "2.5",
                        "0.1",
                        "1e10",
                        "9223372036854775807",
                    ])
                    .to_string();
            }
            let d = depth - 1;
            match self.next(7) {
                0 => {
                    let op = self.pick(&["+", "-", "*", "/", "%"]);
                    format!("({} {op} {})", self.number(d), self.number(d))
                }
                1 => format!("(-{})", self.number(d)),
                2 => format!("({}).len()", self.text(d)),
                3 => format!("({}).index_of({})", self.text(d), self.text(d)),
                4 => format!(
                    "({}).{}()",
                    self.number(d),
                    self.pick(&["to_int", "to_float", "abs"])
                ),
                5 => match self.next(2) {
                    0 => format!("days_since({})", self.text(d)),
                    _ => format!(
                        "({} ?? {})",
                        self.pick(&["lead.a", "lead.b", "()"]),
                        self.number(d)
                    ),
                },
                _ => format!(
                    "(if {} {{ {} }} else {{ {} }})",
                    self.boolean(d),
                    self.number(d),
                    self.number(d)
                ),
            }
        }

        fn text(&mut self, depth: u32) -> String {
            let leaf = depth == 0 || self.next(3) == 0;
            if leaf {
                return self
                    .pick(&[
                        "lead.s", "lead.t", "\"\"", "\"a\"", "\"@\"", "\".edu\"", "\"Ab\"",
                        "\"é\"", "as_of()",
                    ])
                    .to_string();
            }
            let d = depth - 1;
            match self.next(5) {
                0 => format!(
                    "({}).{}()",
                    self.text(d),
                    self.pick(&["to_lower", "to_upper"])
                ),
                1 => format!("({}).sub_string({})", self.text(d), self.number(d)),
                2 => format!("({} + {})", self.text(d), self.text(d)),
                3 => {
                    let inner = match self.next(3) {
                        0 => self.number(d),
                        1 => self.text(d),
                        _ => self.boolean(d),
                    };
                    format!("`<${{{inner}}}>`")
                }
                _ => format!(
                    "(if {} {{ {} }} else {{ {} }})",
                    self.boolean(d),
                    self.text(d),
                    self.text(d)
                ),
            }
        }

        fn boolean(&mut self, depth: u32) -> String {
            let leaf = depth == 0 || self.next(4) == 0;
            if leaf {
                return self
                    .pick(&["true", "false", "(lead.a == ())", "(lead.s != ())"])
                    .to_string();
            }
            let d = depth - 1;
            let compare = ["==", "!=", "<", "<=", ">", ">="];
            match self.next(8) {
                0 => format!(
                    "({} {} {})",
                    self.number(d),
                    self.pick(&compare),
                    self.number(d)
                ),
                1 => format!(
                    "({} {} {})",
                    self.text(d),
                    self.pick(&compare),
                    self.text(d)
                ),
                2 => format!(
                    "({} {} {})",
                    self.number(d),
                    self.pick(&["==", "!="]),
                    self.text(d)
                ),
                3 => format!(
                    "({} {} {})",
                    self.boolean(d),
                    self.pick(&["&&", "||"]),
                    self.boolean(d)
                ),
                4 => format!("(!{})", self.boolean(d)),
                5 => format!(
                    "({}).{}({})",
                    self.text(d),
                    self.pick(&["contains", "starts_with", "ends_with"]),
                    self.text(d)
                ),
                6 => match self.next(3) {
                    0 => format!("({} in {})", self.text(d), self.text(d)),
                    1 => format!("({} in [\"a\", \"@\", {}])", self.text(d), self.text(d)),
                    _ => format!(
                        "({} in [1, 2.5, \"a\", {}])",
                        self.number(d),
                        self.number(d)
                    ),
                },
                _ => format!("is_blank({})", self.text(d)),
            }
        }
    }

    fn number_value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            (-20i64..200).prop_map(|n| Some(Value::Int(n))),
            Just(Some(Value::Int(i64::MAX))),
            (-100.0f64..1000.0).prop_map(|x| Some(Value::Float(x))),
            Just(Some(Value::Float(0.1))),
        ]
    }

    fn text_value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            "[a-zA-Z@.é ]{0,8}".prop_map(|s| Some(Value::Text(s))),
            Just(Some(Value::Text("2026-01-15".to_string()))),
            Just(Some(Value::Text("Ann@Uni.EDU".to_string()))),
        ]
    }

    /// `expr:` conditions, each in the subset.
    const CONDITIONS: [&str; 6] = [
        "lead.a > 3 && lead.s.contains(\"@\")",
        "lead.a == lead.b || lead.t != ()",
        "lead.s.to_lower().ends_with(\".edu\")",
        "days_since(lead.t) > 30",
        "lead.a",
        "lead.a * 2 >= lead.b",
    ];

    /// A host with the corpus, the heavy model's and the starter's rules compiled, and
    /// each lead field's slot.
    fn host(limits: Limits, files: &[&str]) -> (ScriptHost, Vec<ScriptRule>, Schema) {
        let mut host = ScriptHost::new(limits);
        let mut rules = Vec::new();
        for (number, source) in files.iter().enumerate() {
            let path = format!("{number}.rhai");
            let path = Path::new(&path);
            rules.extend(host.compile_file(Path::new(path), source).unwrap());
        }
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        (host, rules, schema)
    }

    fn value() -> impl Strategy<Value = Option<Value>> {
        let text = prop_oneof![
            "[a-zA-Z@._ -]{0,10}",
            "\\PC{0,5}",
            Just("ann@uni.edu".to_string()),
            Just("X@RivalSoft.com".to_string()),
            Just("Test Co".to_string()),
            Just("n/a".to_string()),
            Just("2026-10-01".to_string()),
            Just("ß@Straße.de".to_string()),
        ];
        let int = prop_oneof![
            -5i64..60,
            Just(i64::MAX),
            Just(i64::MIN),
            Just(0),
            any::<i64>()
        ];
        let float = prop_oneof![
            -100.0f64..100.0,
            Just(1e20),
            Just(-0.0),
            Just(0.1),
            Just(1.5e-7),
            Just(123_456_789.0),
            Just(9.3e18),
            Just(f64::NAN),
            Just(f64::INFINITY),
            any::<f64>(),
        ];
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            any::<bool>().prop_map(|b| Some(Value::Bool(b))),
            int.prop_map(|n| Some(Value::Int(n))),
            float.prop_map(|x| Some(Value::Float(x))),
            text.prop_map(|s| Some(Value::Text(s))),
            Just(Some(Value::List(vec![Value::Int(1)]))),
        ]
    }

    /// Values by slot, with the corpus fields and the heavy and starter fields set.
    fn lead(
        schema: &mut Schema,
        given: &[(&str, Option<Value>)],
    ) -> Vec<Option<Cow<'static, Value>>> {
        let slots: Vec<(Slot, &Option<Value>)> = given
            .iter()
            .map(|(name, v)| (schema.slot_for(name), v))
            .collect();
        let mut values = vec![None; schema.fields().len()];
        for (slot, value) in slots {
            values[slot] = value.clone().map(Cow::Owned);
        }
        values
    }

    /// Runs every rule both ways; returns how many native runs gave a result.
    fn compare(
        host: &ScriptHost,
        rules: &[ScriptRule],
        schema: &Schema,
        values: &[Option<Cow<'_, Value>>],
    ) -> usize {
        let as_of = Date::parse("2026-11-27").unwrap();
        let map = lead_to_dynamic(None, schema, values, host.view());
        let mut ran = 0;
        for rule in rules {
            let Some(Some(native)) = host.rule_natives.get(rule.number) else {
                continue;
            };
            if let Ok(fast) = native.run_rule(values, as_of) {
                ran += 1;
                let slow = host.call_rule(rule, &map, as_of);
                assert_eq!(Ok(fast), slow, "rule {} on {values:?}", rule.name);
            }
        }
        ran
    }

    #[test]
    fn the_subset_is_run_natively_and_the_rest_left_to_rhai() {
        let (host, rules, _) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
        for rule in &rules {
            let native = host.rule_natives[rule.number].is_some();
            assert_eq!(
                native,
                !rule.name.starts_with("rhai_"),
                "rule {}",
                rule.name
            );
        }
    }

    /// Every rule of the subset gives a result natively on some ordinary lead, so the
    /// comparison above is not met only by runs left to Rhai; a rule that can only fail
    /// never does.
    #[test]
    fn every_native_rule_runs_without_rhai_on_ordinary_leads() {
        let (host, rules, mut schema) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
        let text = |s: &str| Some(Value::Text(s.to_string()));
        let leads = [
            [
                Some(Value::Int(3)),
                Some(Value::Int(2)),
                text("Ann@Uni.edu"),
                text("uni"),
            ],
            [
                Some(Value::Float(2.5)),
                Some(Value::Float(0.5)),
                text("2026-10-01"),
                text("b"),
            ],
            [None, Some(Value::Bool(true)), text("a"), text("a")],
            [Some(Value::Bool(false)), None, text("x"), text(" ")],
            [Some(Value::Int(1)), Some(Value::Int(7)), text("b"), None],
            [
                Some(Value::Bool(true)),
                Some(Value::Bool(true)),
                text("x"),
                text("y"),
            ],
        ];
        let as_of = Date::parse("2026-11-27").unwrap();
        for rule in rules.iter().filter(|r| !r.name.starts_with("rhai_")) {
            let native = host.rule_natives[rule.number].as_ref().unwrap();
            let fails = rule.name.starts_with("fails_");
            let ran = leads.iter().any(|[a, b, s, t]| {
                let values = lead(
                    &mut schema,
                    &[
                        ("a", a.clone()),
                        ("b", b.clone()),
                        ("s", s.clone()),
                        ("t", t.clone()),
                        ("email", text("ann@rivalsoft.com")),
                        ("page_views", Some(Value::Int(60))),
                        ("budget", Some(Value::Float(12_345.0))),
                        ("company", text("Test")),
                        ("annual_revenue", Some(Value::Float(2e8))),
                        ("pricing_discussed", Some(Value::Bool(true))),
                        ("last_activity_at", text("2026-10-01")),
                    ],
                );
                native.run_rule(&values, as_of).is_ok()
            });
            assert_eq!(ran, !fails, "rule {} ran natively: {ran}", rule.name);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn native_runs_agree_with_rhai(
            a in value(), b in value(), s in value(), t in value(),
            email in value(), page_views in value(), budget in value(),
        ) {
            let (host, rules, mut schema) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
            let values = lead(&mut schema, &[
                ("a", a), ("b", b), ("s", s), ("t", t),
                ("email", email), ("page_views", page_views), ("budget", budget),
            ]);
            compare(&host, &rules, &schema, &values);
        }

        #[test]
        fn random_programs_agree_with_rhai(
            seed in any::<u64>(),
            a in number_value(), b in number_value(), s in text_value(), t in text_value(),
        ) {
            let mut program = Program(seed | 1);
            let (value, test) = match program.next(3) {
                0 => (program.number(4), program.boolean(3)),
                1 => (program.text(4), program.boolean(3)),
                _ => (program.boolean(4), program.boolean(3)),
            };
            let source = format!(
                "fn r(lead) {{ let v = {value}; if {test} {{ return #{{ points: 1, reason: `${{v}}` }}; }} v }}"
            );
            let mut host = ScriptHost::new(Limits::default());
            // Rhai refuses some programs when it folds their constants (`-"a"`):
            // nothing to compare.
            let Ok(rules) = host.compile_file(Path::new("r.rhai"), &source) else {
                return Ok(());
            };
            let mut schema = Schema::default();
            host.resolve_reads(&mut schema);
            let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
            let native = host.rule_natives[rules[0].number].as_ref();
            prop_assert!(native.is_some(), "not translated: {}", source);
            if let Some(Ok(fast)) = native.map(|n| n.run_rule(&values, Date::UNIX_EPOCH)) {
                let map = lead_to_dynamic(None, &schema, &values, host.view());
                let slow = host.call_rule(&rules[0], &map, Date::UNIX_EPOCH);
                prop_assert_eq!(Ok(fast), slow, "{} on {:?}", source, values);
            }
        }

        #[test]
        fn native_conditions_agree_with_rhai(
            a in value(), b in value(), s in value(), t in value(),
        ) {
            let mut host = ScriptHost::new(Limits::default());
            let ids: Vec<_> = CONDITIONS
                .iter()
                .map(|source| {
                    let doc = crate::rules::raw::ExprDoc {
                        source: source.to_string(),
                        span: crate::diagnostic::Span::new(1, 1, 1),
                        col_offset: 0,
                    };
                    host.compile_expr(Path::new("r.yaml"), &doc).unwrap()
                })
                .collect();
            let mut schema = Schema::default();
            host.resolve_reads(&mut schema);
            let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
            let map = lead_to_dynamic(None, &schema, &values, host.view());
            let as_of = Date::parse("2026-11-27").unwrap();
            for (id, source) in ids.into_iter().zip(CONDITIONS) {
                let native = host.expr_natives[id].as_ref().unwrap();
                if let Ok(fast) = native.run_condition(&values, as_of) {
                    let (_, ast, shares) = &host.exprs[id];
                    let slow = host
                        .call(ast, super::super::EXPR_FN, shares, &map, as_of)
                        .map(|v| v.as_bool());
                    prop_assert_eq!(Ok(Ok(fast)), slow, "{} on {:?}", source, values);
                }
            }
        }

        #[test]
        fn native_runs_leave_every_limit_to_rhai(
            a in value(), b in value(), s in value(), t in value(),
        ) {
            let limits = Limits {
                max_string_size: 16,
                max_array_size: 4,
                max_map_size: 6,
                ..Limits::default()
            };
            let (host, rules, mut schema) = host(limits, &[CORPUS]);
            let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
            compare(&host, &rules, &schema, &values);
        }
    }
}
