"""The HR export the import tests feed in: as Dutch Excel writes it, four people, one manager tree.

Shared by the CLI (`pop import`) and the HTTP (`POST /api/imports`) tests, so both refuse and
accept the very same file.
"""

from __future__ import annotations

DUTCH = "personeelsnummer;naam;e-mail;manager;afdeling;functie;taal;startdatum;einddatum"
PEOPLE = [
    "M1;Harrie Koning;harrie@example.nl;;Directie;Directeur;nl;1-1-2020;",
    "M2;Mia Bos;mia@example.nl;M1;Verkoop;Teamleider;nl;1-1-2020;",
    "E1;Ann de Vries;ann@example.nl;M1;Verkoop;Adviseur;en;1-3-2021;",
    "E2;Bram Jansen;bram@example.nl;M1;Verkoop;Adviseur;;15-6-2022;",
]


def excel_nl(rows: list[str]) -> bytes:
    """As Dutch Excel saves "CSV UTF-8": BOM, `;`, CRLF."""
    return b"\xef\xbb\xbf" + "\r\n".join([DUTCH, *rows, ""]).encode("utf-8")
