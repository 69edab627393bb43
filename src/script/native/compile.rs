//! Translating a Rhai function into the subset's tree: statements and expressions one
//! by one, variables resolved to slots, anything else refused.

use rhai::{AST, ASTFlags, Dynamic, Expr as RhaiExpr, FnCallExpr, Stmt as RhaiStmt, StmtBlock};

use super::{Block, Expr, Helper, Method, Op, Stmt};
use crate::script::Limits;

/// Operations Rhai may count per statement or expression: about one, so a function is
/// translated only when four per node, over the most nodes a run can evaluate, stay
/// within `max_operations` (a wide margin: the translation never meets that limit).
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

/// The function's body, its number of variables and the fields it reads; `None` when it
/// uses anything outside the subset or could come near a sandbox limit.
pub(super) fn translate(
    ast: &AST,
    param: &str,
    script_fns: &[&str],
    limits: &Limits,
) -> Option<(Block, usize, Vec<String>)> {
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
    Some((body, compiler.locals, compiler.fields))
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
        // `sub_string(start)` and `sub_string(start, length)`.
        let arity_fits =
            call.args.len() == arity || (method == Method::SubString && call.args.len() == 2);
        if !arity_fits {
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
