//! Computed attributes: CEL expressions, parsed with bounds on their shape, and
//! ordered so each comes after the attributes it reads.

use std::collections::{BTreeMap, BTreeSet};

use super::{AggregateAttribute, Compiled, ComputedAttribute, Found, MAX_EXPRESSION_BYTES};

pub(super) fn compile_expression(name: &str, expression: &str) -> Result<Compiled, Found> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(vec![(
            "expression_too_long",
            format!("expressions are at most {MAX_EXPRESSION_BYTES} bytes"),
        )]);
    }
    let program = parse_bounded(expression).map_err(|found| vec![found])?;
    let mut free = BTreeSet::new();
    free_variables(program.expression(), &mut Vec::new(), &mut free);
    let references: Vec<String> = free.into_iter().collect();
    Ok(Compiled::Computed(
        ComputedAttribute {
            name: name.to_owned(),
            program: std::sync::Arc::new(program),
        },
        references,
    ))
}

/// Deepest expression tree accepted. Evaluation recurses once per level, on the
/// caller's (2 MiB) stack, so the depth is what bounds it.
pub const MAX_EXPRESSION_DEPTH: usize = 48;
/// Macros (`map`, `filter`, `exists`, …) may not nest: one level keeps an expression's
/// work linear in the size of the values it reads.
pub const MAX_MACRO_NESTING: usize = 1;

/// Parses on a thread with a large stack, so a hostile expression cannot overflow the
/// caller's; then checks the tree's depth and macro nesting before it leaves there.
fn parse_bounded(expression: &str) -> Result<cel::Program, (&'static str, String)> {
    let source = expression.to_owned();
    std::thread::Builder::new()
        .name("cel-parse".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let program = cel::Program::compile(&source)
                .map_err(|e| ("invalid_expression", e.to_string()))?;
            let (depth, nesting) = shape(program.expression());
            if depth > MAX_EXPRESSION_DEPTH {
                return Err((
                    "expression_too_deep",
                    format!("expressions nest at most {MAX_EXPRESSION_DEPTH} levels deep"),
                ));
            }
            if nesting > MAX_MACRO_NESTING {
                return Err((
                    "expression_too_deep",
                    "macros such as map() and exists() may not nest".to_owned(),
                ));
            }
            Ok(program)
        })
        .map_err(|e| ("invalid_expression", e.to_string()))?
        .join()
        .unwrap_or_else(|_| {
            Err((
                "invalid_expression",
                "the expression could not be parsed".to_owned(),
            ))
        })
}

/// The depth of an expression tree and its deepest nesting of macros, without recursion.
fn shape(root: &cel::common::ast::IdedExpr) -> (usize, usize) {
    let (mut depth, mut nesting) = (0, 0);
    let mut stack = vec![(root, 1, 0)];
    while let Some((expr, level, macros)) = stack.pop() {
        depth = depth.max(level);
        nesting = nesting.max(macros);
        for (child, in_macro) in children(expr) {
            stack.push((child, level + 1, macros + usize::from(in_macro)));
        }
    }
    (depth, nesting)
}

/// An expression's direct children, each with whether a macro binds it.
fn children(expr: &cel::common::ast::IdedExpr) -> Vec<(&cel::common::ast::IdedExpr, bool)> {
    use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr};
    fn entries(entries: &[IdedEntryExpr]) -> Vec<&cel::common::ast::IdedExpr> {
        entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::StructField(f) => vec![&f.value],
                EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
            })
            .collect()
    }
    let plain: Vec<&cel::common::ast::IdedExpr> = match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(comp) => {
            let parts = [
                &comp.iter_range,
                &comp.accu_init,
                &comp.loop_cond,
                &comp.loop_step,
                &comp.result,
            ];
            return parts.into_iter().map(|p| (p, true)).collect();
        }
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => entries(&map.entries),
        Expr::Struct(structure) => entries(&structure.entries),
        Expr::Select(select) => vec![&*select.operand],
        _ => Vec::new(),
    };
    plain.into_iter().map(|c| (c, false)).collect()
}

/// The identifiers an expression reads from outside: what macros such as
/// `exists(p, …)` bind is not a reference to an attribute.
fn free_variables(
    expr: &cel::common::ast::IdedExpr,
    bound: &mut Vec<String>,
    out: &mut BTreeSet<String>,
) {
    use cel::common::ast::{EntryExpr, Expr};
    let entries = |entries: &[cel::common::ast::IdedEntryExpr],
                   bound: &mut Vec<String>,
                   out: &mut BTreeSet<String>| {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(field) => free_variables(&field.value, bound, out),
                EntryExpr::MapEntry(pair) => {
                    free_variables(&pair.key, bound, out);
                    free_variables(&pair.value, bound, out);
                }
            }
        }
    };
    match &expr.expr {
        Expr::Ident(name) if !name.starts_with('@') && !bound.contains(name) => {
            out.insert(name.clone());
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Comprehension(comp) => {
            free_variables(&comp.iter_range, bound, out);
            free_variables(&comp.accu_init, bound, out);
            let scope = bound.len();
            bound.push(comp.iter_var.clone());
            bound.extend(comp.iter_var2.clone());
            bound.push(comp.accu_var.clone());
            for inner in [&comp.loop_cond, &comp.loop_step, &comp.result] {
                free_variables(inner, bound, out);
            }
            bound.truncate(scope);
        }
        Expr::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, out);
            }
        }
        Expr::Map(map) => entries(&map.entries, bound, out),
        Expr::Struct(structure) => entries(&structure.entries, bound, out),
        Expr::Select(select) => free_variables(&select.operand, bound, out),
        _ => {}
    }
}

/// Orders computed attributes so each comes after what it reads; reports unknown
/// references and cycles.
pub(super) fn order_computed(
    aggregates: &[AggregateAttribute],
    computed: Vec<(ComputedAttribute, Vec<String>)>,
    problem: &mut impl FnMut(Option<&str>, &'static str, String),
) -> Vec<ComputedAttribute> {
    let known: BTreeSet<String> = aggregates
        .iter()
        .map(|a| a.name.clone())
        .chain(computed.iter().map(|(c, _)| c.name.clone()))
        .collect();
    let mut pending: BTreeMap<String, (ComputedAttribute, Vec<String>)> = BTreeMap::new();
    for (attribute, references) in computed {
        for reference in &references {
            if !known.contains(reference) {
                problem(
                    Some(&attribute.name),
                    "unknown_reference",
                    format!("{reference} is not an attribute of this view"),
                );
            }
        }
        pending.insert(attribute.name.clone(), (attribute, references));
    }
    let mut done: BTreeSet<String> = aggregates.iter().map(|a| a.name.clone()).collect();
    let mut ordered = Vec::new();
    loop {
        let ready: Vec<String> = pending
            .iter()
            .filter(|(_, (_, refs))| refs.iter().all(|r| done.contains(r) || !known.contains(r)))
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            let (attribute, _) = pending.remove(&name).expect("ready names are pending");
            done.insert(name);
            ordered.push(attribute);
        }
    }
    for name in pending.keys() {
        problem(
            Some(name),
            "cycle",
            format!("{name} depends on itself through other computed attributes"),
        );
    }
    ordered
}
