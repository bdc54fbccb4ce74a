//! One-row tables of constants (`params`: the period's bounds; `rules`:
//! the limits of the rules file) and the optimizer rule that lets queries
//! read them as literals.
//!
//! The counting queries say `CROSS JOIN params p ... WHERE s.deadline
//! BETWEEN p.ps AND p.pe`, which reads well and runs anywhere. Planned as
//! written, that is a nested-loop join of every fact row with the one
//! parameter row, and the bounds are not known to the Parquet scan, so
//! sorted files cannot skip a row group. These tables are therefore views
//! over one row of literals, and [`InlineConstants`] replaces a join with
//! such a view by the literals themselves: the filter then reaches the
//! scan as `deadline BETWEEN DATE '…' AND DATE '…'`, where row-group
//! statistics and page indexes prune it. The result is the same row for
//! row: joining one row adds its columns and removes nothing.

use std::sync::Arc;

use anyhow::Result;
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{
    Expr, Filter, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::prelude::SessionContext;

/// A view of one row: each column a literal.
pub fn one_row_view(columns: Vec<(&str, ScalarValue)>) -> Result<ViewTable> {
    let exprs: Vec<Expr> = columns
        .into_iter()
        .map(|(name, value)| lit(value).alias(name))
        .collect();
    let plan = LogicalPlanBuilder::empty(true).project(exprs)?.build()?;
    Ok(ViewTable::new(plan, None))
}

/// Registers (or replaces) `name` as a one-row view of literals.
pub fn register(ctx: &SessionContext, name: &str, columns: Vec<(&str, ScalarValue)>) -> Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(one_row_view(columns)?))?;
    Ok(())
}

/// Adds [`InlineConstants`] to a context's optimizer (once).
pub fn add_rule(ctx: &SessionContext) {
    let state = ctx.state();
    let rule = InlineConstants.name().to_string();
    if !state.optimizers().iter().any(|r| r.name() == rule) {
        ctx.add_optimizer_rule(Arc::new(InlineConstants));
    }
}

/// Replaces an inner join without join keys whose one side is a single
/// row of literals by the other side with those literals as columns (the
/// join's filter, if any, stays above as a filter). Later passes of the
/// optimizer push the filters, now over literals, into the scans.
#[derive(Debug, Default)]
pub struct InlineConstants;

impl OptimizerRule for InlineConstants {
    fn name(&self) -> &str {
        "inline_constants"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> datafusion::common::Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if join.join_type != JoinType::Inner || !join.on.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let left_width = join.left.schema().fields().len();
        let (other, values, constants_from) = match (literals(&join.left), literals(&join.right)) {
            (_, Some(v)) => (join.left.clone(), v, left_width),
            (Some(v), None) => (join.right.clone(), v, 0),
            (None, None) => return Ok(Transformed::no(plan)),
        };
        let constants = constants_from..constants_from + values.len();
        let other_offset = if constants_from == 0 { values.len() } else { 0 };
        let exprs: Vec<Expr> = join
            .schema
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                if constants.contains(&i) {
                    values[i - constants_from]
                        .clone()
                        .alias_qualified(qualifier.cloned(), field.name())
                } else {
                    let (q, f) = other.schema().qualified_field(i - other_offset);
                    Expr::Column(Column::new(q.cloned(), f.name()))
                }
            })
            .collect();
        let projection = Projection::try_new_with_schema(exprs, other, join.schema.clone())?;
        let mut out = LogicalPlan::Projection(projection);
        if let Some(filter) = join.filter.clone() {
            out = LogicalPlan::Filter(Filter::try_new(filter, Arc::new(out))?);
        }
        Ok(Transformed::yes(out))
    }
}

/// The literals of a plan that is one row of literals (a projection of
/// literals over a one-row empty relation, under any aliases).
fn literals(plan: &LogicalPlan) -> Option<Vec<Expr>> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => literals(&a.input),
        LogicalPlan::Projection(p) => {
            let LogicalPlan::EmptyRelation(e) = p.input.as_ref() else {
                return None;
            };
            if !e.produce_one_row {
                return None;
            }
            p.expr
                .iter()
                .map(|e| match e.clone().unalias() {
                    Expr::Literal(v, m) => Some(Expr::Literal(v, m)),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    async fn count(ctx: &SessionContext, sql: &str) -> i64 {
        let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let c = b[0].column(0).as_any().downcast_ref::<Int64Array>();
        c.unwrap().value(0)
    }

    #[tokio::test]
    async fn a_join_with_one_row_of_literals_becomes_literals_and_counts_the_same() {
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
        let days = Date32Array::from(vec![Some(10), Some(20), None, Some(30), Some(40)]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(days)]).unwrap();
        let params = vec![
            ("ps", ScalarValue::Date32(Some(15))),
            ("pe", ScalarValue::Date32(Some(30))),
        ];
        let sql = "SELECT count(*) FROM t CROSS JOIN params p WHERE t.d BETWEEN p.ps AND p.pe";
        let mut counts = Vec::new();
        for inline in [false, true] {
            let ctx = SessionContext::new();
            let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
            ctx.register_table("t", Arc::new(table)).unwrap();
            register(&ctx, "params", params.clone()).unwrap();
            if inline {
                add_rule(&ctx);
                add_rule(&ctx);
                let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
                let text = format!("{}", plan.display_indent());
                assert!(!text.contains("Join"), "{text}");
                assert!(text.contains("t.d >= Date32(\"1970-01-16\")"), "{text}");
            }
            counts.push(count(&ctx, sql).await);
        }
        assert_eq!(counts, [2, 2]);
    }
}
