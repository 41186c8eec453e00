//! A `WHERE` clause built from the filters a caller chose, with its parameters numbered in the
//! order they are added, so every value is bound and none is spliced into the SQL.

use sqlx::{any::AnyArguments, query::QueryAs, Any};

enum Param {
    Text(String),
    Number(i64),
}

#[derive(Default)]
pub struct Conditions {
    parts: Vec<String>,
    params: Vec<Param>,
}

impl Conditions {
    /// A text parameter: its placeholder, to use in a condition.
    pub fn text(&mut self, value: impl Into<String>) -> String {
        self.params.push(Param::Text(value.into()));
        format!("${}", self.params.len())
    }

    pub fn number(&mut self, value: i64) -> String {
        self.params.push(Param::Number(value));
        format!("${}", self.params.len())
    }

    /// Adds `column IN (…)` for these values; with none, a condition that never holds.
    pub fn one_of<'a>(&mut self, column: &str, values: impl IntoIterator<Item = &'a str>) {
        let placeholders: Vec<String> = values.into_iter().map(|value| self.text(value)).collect();
        self.and(if placeholders.is_empty() {
            "1 = 0".to_string()
        } else {
            format!("{column} IN ({})", placeholders.join(", "))
        });
    }

    /// Adds a condition; all of them must hold.
    pub fn and(&mut self, condition: impl Into<String>) {
        self.parts.push(format!("({})", condition.into()));
    }

    pub fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".to_string()
        } else {
            self.parts.join(" AND ")
        }
    }

    pub fn bind<'q, O>(
        &'q self,
        mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Number(number) => query.bind(*number),
            };
        }
        query
    }
}
