//! Columnar input (Arrow tables, data frames): which of a table's columns scoring reads,
//! so a binding turns only those cells into [`Value`](crate::Value)s.

use crate::scorer::Scorer;

impl Scorer {
    /// True when scoring may read a column of this name: a field the rules use or
    /// declare, under its name or an alias, or any column at all when a Rhai script reads
    /// the whole lead. A lead built from only the columns this accepts gets the same
    /// verdict as one built from every column.
    ///
    /// ```
    /// use leadscore::{Rules, Scorer};
    /// let scorer = Scorer::new(Rules::load_dir("fixtures/looping_rules")?);
    /// assert!(scorer.reads_column("email"));
    /// let scorer = Scorer::new(Rules::from_sources(vec![(
    ///     "fields.yaml".into(),
    ///     "fields: { budget: { type: number, aliases: [Budget__c] } }\n".into(),
    /// )])?);
    /// assert!(scorer.reads_column("Budget__c"));
    /// assert!(!scorer.reads_column("favourite_colour"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reads_column(&self, name: &str) -> bool {
        let rules = self.rules();
        !rules.scripts.reads_named_fields() || rules.schema.lookup(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Date, Lead, Rules, Scorer};

    fn scorer(dir: &str) -> Scorer {
        Scorer::new(Rules::load_dir(dir).unwrap())
    }

    #[test]
    fn starter_rules_read_their_fields_and_aliases_only() {
        let scorer = scorer("rules");
        for name in ["id", "Id", "budget", "Budget__c", "LastActivityDate"] {
            assert!(scorer.reads_column(name), "{name}");
        }
        assert!(!scorer.reads_column("favourite_colour"));
    }

    #[test]
    fn a_script_that_reads_the_whole_lead_reads_every_column() {
        let scorer = Scorer::new(
            Rules::from_sources(vec![(
                "all.rhai".into(),
                "fn many_fields(lead) { lead.keys().len() > 3 }\n".into(),
            )])
            .unwrap(),
        );
        assert!(scorer.reads_column("favourite_colour"));
    }

    #[test]
    fn a_lead_cut_to_the_read_columns_gets_the_same_verdict() {
        let scorer = scorer("rules");
        let as_of = Date::parse("2026-12-01").unwrap();
        let text = std::fs::read_to_string("fixtures/leads.jsonl").unwrap();
        for line in text.lines() {
            let mut whole = Lead::from_json(serde_json::from_str(line).unwrap()).unwrap();
            whole.insert("favourite_colour", crate::Value::Text("teal".into()));
            let cut: Lead = whole
                .fields()
                .filter(|(name, _)| scorer.reads_column(name))
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect();
            assert!(cut.len() < whole.len());
            assert_eq!(scorer.score(&cut, as_of), scorer.score(&whole, as_of));
        }
    }
}
