//! The printable inspection report (*laporan hasil pemeriksaan*): one visit of a joint team,
//! laid out on A4 pages as a PDF that a company signs and an enforcement file keeps.
//!
//! The caller (the server) gathers what the report says into a [`Report`]: plain text, in the
//! words and local time (WITA) people read. This crate only lays it out: a title, label and
//! value tables for the company and the visit, the findings one block each, the photos two
//! to a row with their captions, documents listed by name, and boxes for the signatures.
//!
//! Text is set in the PDF's standard Helvetica (no font is embedded, so a report is small and
//! every viewer has the face); characters outside its Latin-1 encoding print as `?`. Photos
//! are scaled down and re-encoded as JPEG by `sidak-media`, which also drops the location
//! the phone wrote into them (the report shows the position the officer recorded).

mod layout;
mod text;

use thiserror::Error;

pub use layout::render;

/// Everything one report says, in the words it prints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The heading (e.g. `LAPORAN HASIL PEMERIKSAAN`).
    pub title: String,
    /// The line under it (e.g. the branch, the inspection note stage).
    pub subtitle: String,
    /// Label and value rows, one table each (company, visit, headcounts).
    pub sections: Vec<Section>,
    /// The findings, in the order recorded.
    pub findings: Vec<Finding>,
    /// Photos and documents.
    pub attachments: Vec<Attachment>,
    /// One signature box each: who signs (`Ketua tim / Team lead: Andi Wijaya`).
    pub signatures: Vec<String>,
    /// The footer of every page (ids, when it was made), after the page number.
    pub footer: String,
}

/// A titled table of label and value rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Its title.
    pub title: String,
    /// Label and value; an empty value prints as `—`.
    pub rows: Vec<(String, String)>,
}

/// One finding as printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// Its heading: number and category (`1. PDS-TK: only part of the workforce registered`).
    pub heading: String,
    /// Label and value rows (legal basis, deadline, status, workers affected, action).
    pub rows: Vec<(String, String)>,
    /// What the team wrote.
    pub description: String,
}

/// A photo or document of the visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// What it shows.
    pub caption: String,
    /// Its media type.
    pub media_type: String,
    /// A photo's bytes to print (`None`: listed, not printed).
    pub bytes: Option<Vec<u8>>,
    /// Why it is listed rather than printed (`belum diunggah / not uploaded yet`, …).
    pub status: String,
    /// A line under it: size, when and where it was taken, its hash's start.
    pub note: String,
}

/// Why a report could not be made.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A photo could not be decoded or re-encoded.
    #[error("photo {caption:?} could not be printed: {reason}")]
    Photo {
        /// Its caption.
        caption: String,
        /// What the image decoder said.
        reason: String,
    },
}
