//! Reading `field=value` assignments from the command line against a kind's schema.

use anyhow::{Context, Result, bail};
use sidak_core::schema::{FieldType, Register};
use sidak_core::validate::normalize_phone;
use sidak_core::{Kind, Value};
use sidak_store::{Changes, FieldChange};

/// Parses one assignment: `field=value` sets (empty value clears), `field+=x` adds to a set,
/// `field-=x` removes from a set; `field=a,b` on a set field adds each element.
pub fn parse(kind: Kind, text: &str, changes: &mut Changes) -> Result<()> {
    let (field, op, value) = if let Some((f, v)) = text.split_once("+=") {
        (f, '+', v)
    } else if let Some((f, v)) = text.split_once("-=") {
        (f, '-', v)
    } else if let Some((f, v)) = text.split_once('=') {
        (f, '=', v)
    } else {
        bail!("{text:?} is not an assignment: write field=value, field+=element or field-=element");
    };
    let field = field.trim();
    let spec = kind.schema().field(field).with_context(|| {
        let names: Vec<&str> = kind.schema().fields.iter().map(|f| f.name).collect();
        format!(
            "a {kind} has no field {field:?}; its fields are: {}",
            names.join(", ")
        )
    })?;
    match (spec.register, op) {
        (Register::Set, '+') => changes.push(FieldChange::Add {
            field: field.into(),
            element: value.into(),
        }),
        (Register::Set, '-') => changes.push(FieldChange::Remove {
            field: field.into(),
            element: value.into(),
        }),
        (Register::Set, _) => {
            for e in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                changes.push(FieldChange::Add {
                    field: field.into(),
                    element: e.into(),
                });
            }
        }
        (_, '+' | '-') => bail!("{field} is not a set field: use {field}=value"),
        _ => changes.push(FieldChange::Set {
            field: field.into(),
            value: value_for(spec.ty, value)?,
        }),
    }
    Ok(())
}

/// Turns command-line text into a value of the field's type.
pub fn value_for(ty: FieldType, text: &str) -> Result<Value> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        FieldType::Int { .. } => {
            // Rupiah are often written 1.500.000 or 1,500,000.
            let digits: String = text
                .chars()
                .filter(|c| !matches!(c, '.' | ',' | '_'))
                .collect();
            Value::Int(
                digits
                    .parse()
                    .with_context(|| format!("{text:?} is not a whole number"))?,
            )
        }
        FieldType::Bool => match text.to_lowercase().as_str() {
            "true" | "yes" | "ya" | "y" | "1" => Value::Bool(true),
            "false" | "no" | "tidak" | "n" | "0" => Value::Bool(false),
            _ => bail!("{text:?} is not yes or no"),
        },
        FieldType::Phone => Value::Text(normalize_phone(text)),
        FieldType::Nik | FieldType::Digits(_) | FieldType::Npwp => Value::Text(
            text.chars()
                .filter(|c| !matches!(c, '.' | ' ' | '-'))
                .collect(),
        ),
        _ => Value::Text(text.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        let mut c = Changes::new();
        parse(Kind::Worker, "monthly_income=1.500.000", &mut c).unwrap();
        parse(Kind::Worker, "programmes=JKK, JKM", &mut c).unwrap();
        parse(Kind::Worker, "heirs-=Ani", &mut c).unwrap();
        parse(Kind::Worker, "phone=0812-3456-7890", &mut c).unwrap();
        parse(Kind::Worker, "consent=ya", &mut c).unwrap();
        parse(Kind::Worker, "sponsor_name=", &mut c).unwrap();
        let got: Vec<FieldChange> = c.iter().cloned().collect();
        assert_eq!(
            got[0],
            FieldChange::Set {
                field: "monthly_income".into(),
                value: Value::Int(1_500_000)
            }
        );
        assert_eq!(got.len(), 7);
        assert_eq!(
            got[4],
            FieldChange::Set {
                field: "phone".into(),
                value: Value::from("081234567890")
            }
        );
        assert_eq!(
            got[6],
            FieldChange::Set {
                field: "sponsor_name".into(),
                value: Value::Null
            }
        );
        assert!(parse(Kind::Worker, "shoe=42", &mut c).is_err());
        assert!(parse(Kind::Worker, "phone+=1", &mut c).is_err());
        assert!(parse(Kind::Worker, "nonsense", &mut c).is_err());
        assert!(parse(Kind::Worker, "monthly_income=lots", &mut c).is_err());
    }
}
