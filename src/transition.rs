//! Transitions: the stage the CRM holds for a lead (`settings.current_stage`), read from
//! one of its fields, and the move from that stage to the one the rules decide. The CRM
//! owns the lead's state; leadscore only reads it, so scoring stays stateless.

use std::sync::Arc;

use crate::lead::{Slot, Value};
use crate::rules::predicate::Folded;
use crate::stage::StagePolicy;
use crate::verdict::{Direction, Transition};

/// The compiled `current_stage:` setting.
#[derive(Debug, Clone)]
pub(crate) struct CurrentStage {
    /// The field's name, for messages.
    pub field: Arc<str>,
    pub slot: Slot,
    /// CRM values from `map`, then the stage ids themselves, each with its stage's index;
    /// compared ignoring case and surrounding blanks.
    pub lookup: Vec<(Folded, usize)>,
}

impl CurrentStage {
    /// The index of the stage the lead is in now: `Ok(None)` when the field is missing
    /// or blank, `Err` naming the value when it is neither a mapped value nor a stage.
    pub fn read(&self, value: Option<&Value>) -> Result<Option<usize>, String> {
        let text = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Text(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::Text(s)) => std::borrow::Cow::Borrowed(s.as_str()),
            Some(Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                std::borrow::Cow::Owned(value.map(Value::to_string).unwrap_or_default())
            }
            Some(other) => {
                return Err(format!(
                    "the current stage in `{}` is {}, not a stage name",
                    self.field,
                    crate::lead::describe(other)
                ));
            }
        };
        self.lookup
            .iter()
            .find(|(key, _)| key.equals(&text))
            .map(|(_, index)| Some(*index))
            .ok_or_else(|| {
                format!(
                    "`{}` in `{}` is neither a value of `settings.current_stage.map` nor a stage id",
                    text.trim(),
                    self.field
                )
            })
    }
}

/// The move from `from` (the CRM's stage, if any) to `to`; `None` when the stage did
/// not change. Up and down follow the stage list's order; moving into a disqualified
/// stage is always down and leaving one always up.
pub(crate) fn transition(
    policy: &StagePolicy,
    from: Option<usize>,
    to: usize,
) -> Option<Transition> {
    let stages = &policy.stages;
    let to_stage = &stages[to];
    let Some(from) = from else {
        return Some(Transition {
            from: None,
            to: to_stage.id.clone(),
            direction: Direction::New,
        });
    };
    if from == to {
        return None;
    }
    let from_stage = &stages[from];
    let direction = if to_stage.disqualified {
        Direction::Down
    } else if from_stage.disqualified || to < from {
        Direction::Up
    } else {
        Direction::Down
    };
    Some(Transition {
        from: Some(from_stage.id.clone()),
        to: to_stage.id.clone(),
        direction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> CurrentStage {
        let policy = StagePolicy::default_policy();
        let mut lookup: Vec<(Folded, usize)> = [("Open", 3), ("Working", 2), ("Qualified", 1)]
            .into_iter()
            .map(|(k, i)| (Folded::new(k), i))
            .collect();
        lookup.extend(
            policy
                .stages
                .iter()
                .enumerate()
                .map(|(i, s)| (Folded::new(&s.id), i)),
        );
        CurrentStage {
            field: Arc::from("lead_status"),
            slot: 0,
            lookup,
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    #[test]
    fn reads_mapped_values_and_stage_ids_ignoring_case_and_blanks() {
        let c = current();
        assert_eq!(c.read(Some(&text(" working "))), Ok(Some(2)));
        assert_eq!(c.read(Some(&text("OPEN"))), Ok(Some(3)));
        assert_eq!(c.read(Some(&text("Ready_To_Convert"))), Ok(Some(1)));
        assert_eq!(c.read(Some(&text("disqualified"))), Ok(Some(0)));
    }

    #[test]
    fn missing_or_blank_is_no_stage_and_anything_else_is_an_error() {
        let c = current();
        assert_eq!(c.read(None), Ok(None));
        assert_eq!(c.read(Some(&Value::Null)), Ok(None));
        assert_eq!(c.read(Some(&text("  "))), Ok(None));
        let err = c.read(Some(&text("Nurture"))).unwrap_err();
        assert!(err.contains("`Nurture` in `lead_status`"), "{err}");
        assert!(c.read(Some(&Value::Int(3))).is_err());
        assert!(c.read(Some(&Value::List(vec![]))).is_err());
    }

    #[test]
    fn directions_follow_the_stage_list() {
        // default policy: 0 disqualified, 1 ready_to_convert, 2 prospect, 3 lead
        let p = StagePolicy::default_policy();
        let dir = |from, to| transition(&p, from, to).map(|t| t.direction);
        assert_eq!(dir(Some(3), 2), Some(Direction::Up));
        assert_eq!(dir(Some(1), 2), Some(Direction::Down));
        assert_eq!(dir(Some(2), 0), Some(Direction::Down));
        assert_eq!(dir(Some(0), 3), Some(Direction::Up));
        assert_eq!(dir(None, 2), Some(Direction::New));
        assert_eq!(dir(Some(2), 2), None);
        let t = transition(&p, Some(3), 1).unwrap();
        assert_eq!(
            (t.from.as_deref(), &*t.to),
            (Some("lead"), "ready_to_convert")
        );
    }
}
