"""Demo resumes: one per demo user, stored as their default document."""

from __future__ import annotations

from typing import Any

RESUMES: dict[str, dict[str, Any]] = {
    "alice": {
        "profile": {
            "name": "Alice Martin",
            "headline": "Quantitative analyst",
            "email": "alice@example.com",
            "location": "Lyon, France",
            "summary": "Analyst who turns trading journals into decisions: risk models, "
            "position sizing and clear reports for discretionary traders.",
        },
        "work": [
            {
                "organisation": "Rhône Capital",
                "role": "Quantitative analyst",
                "start": "2021-03",
                "highlights": [
                    "Built the daily P&L attribution used by 40 traders",
                    "Cut the risk report from 2 hours to 6 minutes",
                ],
            },
            {
                "organisation": "Banque Ouest",
                "role": "Junior analyst",
                "start": "2018-09",
                "end": "2021-02",
                "highlights": ["Maintained the FX options pricing library"],
            },
        ],
        "education": [{"institution": "École Centrale", "qualification": "MSc Applied Maths"}],
        "skills": ["Python", "SQL", "Statistics", "Risk", "Typst"],
    },
    "bob": {
        "profile": {
            "name": "Bob Okafor",
            "headline": "Prop trader",
            "email": "bob@example.com",
            "location": "Lagos, Nigeria",
        },
        "work": [
            {
                "organisation": "Independent",
                "role": "Futures trader",
                "start": "2019-01",
                "highlights": ["Passed two prop-firm evaluations", "Journals every trade"],
            }
        ],
        "skills": ["Order flow", "Risk management"],
        "sections": [{"title": "Certifications", "items": ["CMT Level II"]}],
    },
}
