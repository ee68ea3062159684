//! Wire format v1: the JSON form of ops and record states, our own types.
//!
//! Only these types cross a device, a disk or the network; the in-memory model
//! converts to and from them by hand, so a change of `crdts` or of internal
//! types never changes the format. `proto/` holds the JSON Schema and vectors.

use std::collections::BTreeMap;

use crdts::{CmRDT, Dot, LWWReg};
use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::ids::{DeviceId, RecordId};
use crate::op::{Action, Change, Op};
use crate::record::{FieldState, Presence, Record, Stamped};
use crate::register::{Clock, MvRegister};
use crate::schema::{FieldSpec, Kind, Register};
use crate::value::Value;

/// An op as sent and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpV1 {
    /// Record id (UUIDv7).
    pub id: RecordId,
    /// Record kind: `company`, `visit`, `finding` or `worker`.
    pub kind: String,
    /// Region code of the record, digits only (`7371011001`).
    pub region: String,
    /// Timestamp `"<ms>.<counter>@<device uuid>"`; unique per op.
    pub hlc: Hlc,
    /// Present and true on the op that creates the record.
    #[serde(default, skip_serializing_if = "is_false")]
    pub create: bool,
    /// Field changes.
    pub changes: Vec<ChangeV1>,
    /// The device whose edit this is, when the office stamped it (an accepted set-aside op).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<DeviceId>,
    /// The timestamp of the set-aside op this one stamps again (the same edit, re-dated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restamps: Option<Hlc>,
}

/// One field change as sent and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeV1 {
    /// `set`, `add` or `remove`.
    pub op: String,
    /// Field name.
    pub field: String,
    /// The value set, or the element added or removed.
    pub value: serde_json::Value,
    /// Version vector the writer had seen of the field or element: device uuid → counter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<DeviceId, u64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A record's merged state as stored and sent.
///
/// Compact on purpose (it is stored once per record on every device and on the server):
/// the devices that wrote the record are listed once in `actors`, and every stamp inside
/// names its device by index there (`"<ms>.<counter>@<index>"`), every version vector is a
/// list of counters in `actors` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordV1 {
    /// Record id.
    pub id: RecordId,
    /// Record kind.
    pub kind: String,
    /// Region code.
    pub region: String,
    /// Timestamp of the create op, once seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Hlc>,
    /// Timestamp of the latest op seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Hlc>,
    /// Every device that stamped a value or a version vector of this record, sorted.
    pub actors: Vec<DeviceId>,
    /// Field states by name.
    pub fields: BTreeMap<String, FieldV1>,
}

/// One field's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldV1 {
    /// Last-writer-wins register: the value and its stamp.
    Lww(StampedV1),
    /// Multi-value register: the concurrent values, each with its version vector.
    Mv(Vec<ClockedV1>),
    /// Add-wins set: per element, its concurrent presences.
    Set(BTreeMap<String, Vec<PresenceV1>>),
}

/// A value with its stamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampedV1 {
    /// The value.
    pub v: serde_json::Value,
    /// When and by which actor (index) it was written: `"<ms>.<counter>@<index>"`.
    pub at: String,
}

/// A value of a multi-value register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockedV1 {
    /// The value.
    pub v: serde_json::Value,
    /// When and by which actor it was written.
    pub at: String,
    /// Its version vector: one counter per actor, in `actors` order (trailing zeros omitted).
    pub clock: Vec<u64>,
}

/// One presence of a set element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceV1 {
    /// `true` for an add, `false` for a remove.
    pub on: bool,
    /// When and by which actor.
    pub at: String,
    /// Its version vector, as in [`ClockedV1::clock`].
    pub clock: Vec<u64>,
}

/// Why a wire message could not be turned into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The kind is not one sidak knows.
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    /// The field is not in the kind's schema.
    #[error("{kind} has no field {field:?}")]
    UnknownField {
        /// Kind.
        kind: Kind,
        /// Field name as sent.
        field: String,
    },
    /// The change's `op` is not set, add or remove, or does not suit the field.
    #[error(
        "{op:?} is not a valid change of field {field} (a {register:?} field takes {expected})"
    )]
    BadAction {
        /// Field.
        field: String,
        /// The action sent.
        op: String,
        /// The field's register.
        register: Register,
        /// What it takes.
        expected: &'static str,
    },
    /// A value is of a JSON type no field holds (a float, array or object), or a set element is not text.
    #[error("field {field}: value {value} has the wrong JSON type ({expected} expected)")]
    BadValue {
        /// Field.
        field: String,
        /// The value, shortened.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The same field (or set element) is changed twice in one op.
    #[error("field {0} is changed twice in one op")]
    DuplicateChange(String),
    /// The op changes nothing.
    #[error("op for record {0} has no changes")]
    Empty(RecordId),
    /// A stored state's field has the wrong register type for the schema.
    #[error("stored field {0} does not match its register type")]
    BadState(String),
}

impl DecodeError {
    /// A stable code for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::UnknownKind(_) => "unknown_kind",
            DecodeError::UnknownField { .. } => "unknown_field",
            DecodeError::BadAction { .. } => "invalid_change",
            DecodeError::BadValue { .. } => "invalid_value",
            DecodeError::DuplicateChange(_) => "duplicate_change",
            DecodeError::Empty(_) => "empty_op",
            DecodeError::BadState(_) => "invalid_state",
        }
    }
}

fn clock_to_wire(c: &Clock) -> BTreeMap<DeviceId, u64> {
    c.dots.iter().map(|(d, n)| (*d, *n)).collect()
}

/// The largest version-vector counter a stored state holds: 2^53, the largest integer
/// every JSON reader (Kotlin, Swift, JavaScript) holds exactly, and far beyond any real count
/// of edits.
pub const MAX_COUNTER: u64 = 1 << 53;

/// The largest counter an op's `seen` context may carry for its own writer: 2^32 writes of
/// one field by one device, which no real device makes. The writer's `+1` (see
/// [`crate::register::write_clock`]) then stays far below [`MAX_COUNTER`], while the entries of
/// other devices are bounded by what the receiving replica holds (the server refuses larger
/// ones as forged). So whatever an op is accepted with, its new state encodes and decodes, and
/// no op can push a counter so high that the next honest write would be refused.
pub const MAX_OWN_COUNTER: u64 = 1 << 32;

fn clock_from_wire(
    field: &str,
    author: DeviceId,
    m: &BTreeMap<DeviceId, u64>,
) -> Result<Clock, DecodeError> {
    let mut c = Clock::new();
    for (d, n) in m {
        let limit = if *d == author {
            MAX_OWN_COUNTER
        } else {
            MAX_COUNTER
        };
        if *n > limit {
            return Err(DecodeError::BadValue {
                field: field.to_owned(),
                value: format!("seen {{{d}: {n}}}"),
                expected: if *d == author {
                    "a writer's own version-vector counter of at most 2^32"
                } else {
                    "version-vector counters of at most 2^53"
                },
            });
        }
        c.apply(Dot::new(*d, *n));
    }
    Ok(c)
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn lookup(kind: Kind, field: &str) -> Result<&'static FieldSpec, DecodeError> {
    kind.schema()
        .field(field)
        .ok_or_else(|| DecodeError::UnknownField {
            kind,
            field: field.chars().take(60).collect(),
        })
}

fn scalar(field: &str, v: &serde_json::Value) -> Result<Value, DecodeError> {
    Value::from_json(v).ok_or_else(|| DecodeError::BadValue {
        field: field.to_owned(),
        value: short(v),
        expected: "null, boolean, integer or string",
    })
}

impl From<&Op> for OpV1 {
    fn from(op: &Op) -> Self {
        OpV1 {
            id: op.id,
            kind: op.kind.as_str().to_owned(),
            region: op.region.clone(),
            hlc: op.hlc,
            create: op.create,
            writer: op.writer,
            restamps: op.restamps,
            changes: op
                .changes
                .iter()
                .map(|c| {
                    let value = match &c.action {
                        Action::Set(v) => v.to_json(),
                        Action::Add(e) | Action::Remove(e) => serde_json::Value::String(e.clone()),
                    };
                    ChangeV1 {
                        op: c.action.as_str().to_owned(),
                        field: c.field.to_owned(),
                        value,
                        seen: clock_to_wire(&c.seen),
                    }
                })
                .collect(),
        }
    }
}

impl TryFrom<&OpV1> for Op {
    type Error = DecodeError;

    fn try_from(w: &OpV1) -> Result<Self, DecodeError> {
        let kind: Kind = w
            .kind
            .parse()
            .map_err(|_| DecodeError::UnknownKind(w.kind.chars().take(40).collect()))?;
        if w.changes.is_empty() {
            return Err(DecodeError::Empty(w.id));
        }
        let mut changes: Vec<Change> = Vec::with_capacity(w.changes.len());
        for c in &w.changes {
            let spec = lookup(kind, &c.field)?;
            let action = match (spec.register, c.op.as_str()) {
                (Register::Lww | Register::Mv, "set") => Action::Set(scalar(spec.name, &c.value)?),
                (Register::Set, "add" | "remove") => {
                    let e = c.value.as_str().ok_or_else(|| DecodeError::BadValue {
                        field: spec.name.to_owned(),
                        value: short(&c.value),
                        expected: "string element",
                    })?;
                    if c.op == "add" {
                        Action::Add(e.to_owned())
                    } else {
                        Action::Remove(e.to_owned())
                    }
                }
                (register, op) => {
                    return Err(DecodeError::BadAction {
                        field: spec.name.to_owned(),
                        op: op.chars().take(20).collect(),
                        register,
                        expected: if register == Register::Set {
                            "add or remove"
                        } else {
                            "set"
                        },
                    });
                }
            };
            let dup = changes.iter().any(|prev| {
                prev.field == spec.name
                    && match (&prev.action, &action) {
                        (Action::Set(_), Action::Set(_)) => true,
                        (
                            Action::Add(a) | Action::Remove(a),
                            Action::Add(b) | Action::Remove(b),
                        ) => a == b,
                        _ => false,
                    }
            });
            if dup {
                return Err(DecodeError::DuplicateChange(spec.name.to_owned()));
            }
            changes.push(Change {
                field: spec.name,
                action,
                seen: clock_from_wire(spec.name, w.writer.unwrap_or(w.hlc.device), &c.seen)?,
            });
        }
        Ok(Op {
            id: w.id,
            kind,
            region: w.region.clone(),
            hlc: w.hlc,
            create: w.create,
            changes,
            writer: w.writer,
            restamps: w.restamps,
        })
    }
}

/// The actors of a record and their indexes, for the compact state form.
struct Actors {
    list: Vec<DeviceId>,
}

impl Actors {
    fn of(r: &Record) -> Actors {
        let mut set = std::collections::BTreeSet::new();
        let mut add_clock = |c: &Clock| set.extend(c.dots.keys().copied());
        let mut stamps = Vec::new();
        for (_, state) in r.fields() {
            match state {
                FieldState::Lww(reg) => stamps.push(reg.marker.device),
                FieldState::Mv(reg) => {
                    for (c, s) in reg.entries() {
                        add_clock(c);
                        stamps.push(s.hlc.device);
                    }
                }
                FieldState::Set(elems) => {
                    for reg in elems.values() {
                        for (c, p) in reg.entries() {
                            add_clock(c);
                            stamps.push(p.hlc.device);
                        }
                    }
                }
            }
        }
        set.extend(stamps);
        Actors {
            list: set.into_iter().collect(),
        }
    }

    fn index(&self, d: &DeviceId) -> usize {
        // Every device was collected by `of`, so the search always finds it.
        self.list.binary_search(d).unwrap_or(0)
    }

    fn stamp(&self, h: &Hlc) -> String {
        format!("{}.{}@{}", h.ms, h.counter, self.index(&h.device))
    }

    fn clock(&self, c: &Clock) -> Vec<u64> {
        let mut out = vec![0; self.list.len()];
        for (d, n) in &c.dots {
            out[self.index(d)] = *n;
        }
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }
}

fn parse_stamp(field: &str, s: &str, actors: &[DeviceId]) -> Result<Hlc, DecodeError> {
    let bad = || {
        DecodeError::BadState(format!(
            "{field}: bad stamp {:?}",
            s.chars().take(40).collect::<String>()
        ))
    };
    let (time, index) = s.split_once('@').ok_or_else(bad)?;
    let (ms, counter) = time.split_once('.').ok_or_else(bad)?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(counter) || !digits(index) {
        return Err(bad());
    }
    let i: usize = index.parse().map_err(|_| bad())?;
    let device = *actors.get(i).ok_or_else(bad)?;
    Ok(Hlc::new(
        ms.parse().map_err(|_| bad())?,
        counter.parse().map_err(|_| bad())?,
        device,
    ))
}

fn parse_clock(field: &str, counters: &[u64], actors: &[DeviceId]) -> Result<Clock, DecodeError> {
    if counters.len() > actors.len() {
        return Err(DecodeError::BadState(format!(
            "{field}: version vector longer than the actors"
        )));
    }
    let mut c = Clock::new();
    if counters.iter().any(|n| *n > MAX_COUNTER) {
        return Err(DecodeError::BadState(format!(
            "{field}: version-vector counter above 2^53"
        )));
    }
    for (d, n) in actors.iter().zip(counters) {
        if *n > 0 {
            c.apply(Dot::new(*d, *n));
        }
    }
    Ok(c)
}

impl From<&Record> for RecordV1 {
    fn from(r: &Record) -> Self {
        let actors = Actors::of(r);
        let fields = r
            .fields()
            .map(|(name, state)| {
                let f = match state {
                    FieldState::Lww(reg) => FieldV1::Lww(StampedV1 {
                        v: reg.val.to_json(),
                        at: actors.stamp(&reg.marker),
                    }),
                    FieldState::Mv(reg) => FieldV1::Mv(
                        reg.entries()
                            .iter()
                            .map(|(c, s)| ClockedV1 {
                                v: s.value.to_json(),
                                at: actors.stamp(&s.hlc),
                                clock: actors.clock(c),
                            })
                            .collect(),
                    ),
                    FieldState::Set(elems) => FieldV1::Set(
                        elems
                            .iter()
                            .map(|(e, reg)| {
                                let ps = reg
                                    .entries()
                                    .iter()
                                    .map(|(c, p)| PresenceV1 {
                                        on: p.present,
                                        at: actors.stamp(&p.hlc),
                                        clock: actors.clock(c),
                                    })
                                    .collect();
                                (e.clone(), ps)
                            })
                            .collect(),
                    ),
                };
                (name.to_owned(), f)
            })
            .collect();
        RecordV1 {
            id: r.id,
            kind: r.kind.as_str().to_owned(),
            region: r.region.clone(),
            created: r.created,
            updated: r.updated,
            actors: actors.list,
            fields,
        }
    }
}

/// The JSON text of [`RecordV1::from`]`(r)`, written straight from the record: the same bytes,
/// without first building the wire form's maps, strings and values (the stored state's hot
/// path, on the device and the server).
pub fn record_json(r: &Record) -> serde_json::Result<String> {
    let actors = Actors::of(r);
    serde_json::to_string(&RecordOut { r, actors: &actors })
}

/// [`RecordV1`] borrowed from a record, serialized as it is.
struct RecordOut<'a> {
    r: &'a Record,
    actors: &'a Actors,
}

impl Serialize for RecordOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = self.r;
        let mut st = s.serialize_struct("RecordV1", 7)?;
        st.serialize_field("id", &r.id)?;
        st.serialize_field("kind", r.kind.as_str())?;
        st.serialize_field("region", &r.region)?;
        match &r.created {
            Some(h) => st.serialize_field("created", h)?,
            None => st.skip_field("created")?,
        }
        match &r.updated {
            Some(h) => st.serialize_field("updated", h)?,
            None => st.skip_field("updated")?,
        }
        st.serialize_field("actors", &self.actors.list)?;
        st.serialize_field("fields", &FieldsOut(self))?;
        st.end()
    }
}

struct FieldsOut<'a>(&'a RecordOut<'a>);

impl Serialize for FieldsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let actors = self.0.actors;
        s.collect_map(
            self.0
                .r
                .fields()
                .map(|(name, state)| (name, FieldOut { state, actors })),
        )
    }
}

struct FieldOut<'a> {
    state: &'a FieldState,
    actors: &'a Actors,
}

impl Serialize for FieldOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let a = self.actors;
        match self.state {
            FieldState::Lww(reg) => {
                struct Lww<'a>(&'a Value, StampOut<'a>);
                impl Serialize for Lww<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut st = s.serialize_struct("StampedV1", 2)?;
                        st.serialize_field("v", &ValueOut(self.0))?;
                        st.serialize_field("at", &self.1)?;
                        st.end()
                    }
                }
                s.serialize_newtype_variant(
                    "FieldV1",
                    0,
                    "lww",
                    &Lww(&reg.val, StampOut(&reg.marker, a)),
                )
            }
            FieldState::Mv(reg) => {
                struct Clocked<'a>(&'a Value, StampOut<'a>, Vec<u64>);
                impl Serialize for Clocked<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut st = s.serialize_struct("ClockedV1", 3)?;
                        st.serialize_field("v", &ValueOut(self.0))?;
                        st.serialize_field("at", &self.1)?;
                        st.serialize_field("clock", &self.2)?;
                        st.end()
                    }
                }
                let entries: Vec<Clocked<'_>> = reg
                    .entries()
                    .iter()
                    .map(|(c, st)| Clocked(&st.value, StampOut(&st.hlc, a), a.clock(c)))
                    .collect();
                s.serialize_newtype_variant("FieldV1", 1, "mv", &entries)
            }
            FieldState::Set(elems) => {
                struct Presences<'a>(&'a MvRegister<Presence>, &'a Actors);
                impl Serialize for Presences<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let a = self.1;
                        s.collect_seq(self.0.entries().iter().map(|(c, p)| PresenceOut {
                            on: p.present,
                            at: StampOut(&p.hlc, a),
                            clock: a.clock(c),
                        }))
                    }
                }
                struct PresenceOut<'a> {
                    on: bool,
                    at: StampOut<'a>,
                    clock: Vec<u64>,
                }
                impl Serialize for PresenceOut<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut st = s.serialize_struct("PresenceV1", 3)?;
                        st.serialize_field("on", &self.on)?;
                        st.serialize_field("at", &self.at)?;
                        st.serialize_field("clock", &self.clock)?;
                        st.end()
                    }
                }
                struct Set<'a>(&'a BTreeMap<String, MvRegister<Presence>>, &'a Actors);
                impl Serialize for Set<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        s.collect_map(self.0.iter().map(|(e, reg)| (e, Presences(reg, self.1))))
                    }
                }
                s.serialize_newtype_variant("FieldV1", 2, "set", &Set(elems, a))
            }
        }
    }
}

/// A value as [`Value::to_json`] gives it, without the copy.
struct ValueOut<'a>(&'a Value);

impl Serialize for ValueOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => serde_json::Value::from(*n).serialize(s),
            Value::Text(t) => s.serialize_str(t),
        }
    }
}

/// A stamp as [`Actors::stamp`] writes it: `"<ms>.<counter>@<index>"`.
struct StampOut<'a>(&'a Hlc, &'a Actors);

impl Serialize for StampOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        s.collect_str(&format_args!(
            "{}.{}@{}",
            h.ms,
            h.counter,
            self.1.index(&h.device)
        ))
    }
}

impl TryFrom<&RecordV1> for Record {
    type Error = DecodeError;

    fn try_from(w: &RecordV1) -> Result<Self, DecodeError> {
        let kind: Kind = w
            .kind
            .parse()
            .map_err(|_| DecodeError::UnknownKind(w.kind.chars().take(40).collect()))?;
        let actors = &w.actors;
        let mut r = Record::new(w.id, kind, w.region.clone());
        r.created = w.created;
        r.updated = w.updated;
        for (name, f) in &w.fields {
            let spec = lookup(kind, name)?;
            let state = match (spec.register, f) {
                (Register::Lww, FieldV1::Lww(s)) => FieldState::Lww(LWWReg {
                    val: scalar(spec.name, &s.v)?,
                    marker: parse_stamp(spec.name, &s.at, actors)?,
                }),
                (Register::Mv, FieldV1::Mv(vals)) => {
                    let mut reg = MvRegister::default();
                    for v in vals {
                        reg.put(
                            parse_clock(spec.name, &v.clock, actors)?,
                            Stamped {
                                hlc: parse_stamp(spec.name, &v.at, actors)?,
                                value: scalar(spec.name, &v.v)?,
                            },
                        );
                    }
                    FieldState::Mv(reg)
                }
                (Register::Set, FieldV1::Set(elems)) => {
                    let mut out = BTreeMap::new();
                    for (e, ps) in elems {
                        let mut reg = MvRegister::default();
                        for p in ps {
                            reg.put(
                                parse_clock(spec.name, &p.clock, actors)?,
                                Presence {
                                    hlc: parse_stamp(spec.name, &p.at, actors)?,
                                    present: p.on,
                                },
                            );
                        }
                        out.insert(e.clone(), reg);
                    }
                    FieldState::Set(out)
                }
                _ => return Err(DecodeError::BadState(spec.name.to_owned())),
            };
            r.insert_field(spec.name, state);
        }
        Ok(r)
    }
}

impl OpV1 {
    /// Decodes this wire op into the model.
    pub fn decode(&self) -> Result<Op, DecodeError> {
        Op::try_from(self)
    }
}

impl RecordV1 {
    /// Decodes this wire state into the model.
    pub fn decode(&self) -> Result<Record, DecodeError> {
        Record::try_from(self)
    }
}
