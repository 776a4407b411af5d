"""An exported clinic with the display settings on (clinic name, currency, notes URL), two
databases and clinic notes, behind a preview server: for the portal view tests and the
screenshots (`make portal-shots`)."""
from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

from conftest import WEAK, make_clinic_db
from exporter import access, keystore
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

TODAY = date(2026, 11, 26)
DAY = "2026-11-26"
PATIENT_NOTE = "Private: anxious, prefers mornings"   # patients.notes of 1001
VISIT_NOTE = "upper left 6"                           # visits.notes of 1001 (conftest)


class ViewsClinic:
    def __init__(self, root: Path, **config: Any) -> None:
        self.root = root
        self.db = make_clinic_db(root / "main.sqlite")
        conn = sqlite3.connect(self.db)
        conn.execute("UPDATE patients SET notes = ?, occupation = 'Teacher' WHERE card = '1001'", (PATIENT_NOTE,))
        conn.execute("INSERT INTO deals (id, patient_id, title, total, deduction, tax, paid, start_date, expired)"
                     " VALUES (2, 1, 'تقويم Braces', 1200, 0, 60, 1260, '2024-01-10', 1)")
        conn.commit()
        conn.close()
        branch = make_clinic_db(root / "branch.sqlite", [
            dict(id=1, card="B-7", first_name="Nour", surname="Saleh", birth_date="2012-05-05",
                 gender="F", mobile="0780000001", modified_at="2026-11-03T08:00:00")])
        home = create_home(root / "home", WEAK)
        conn = keystore.create(home.keys_path)
        access.init_keys(conn)
        conn.close()
        # "branch" sorts first but is the smaller: the doctor lands on "main".
        home.databases["branch"] = Database("branch", branch)
        home.databases["main"] = Database("main", self.db)
        home.config.update({"clinic_name": "Amal Dental — عيادة أمل", "currency": "SAR",
                            "notes_url": "http://127.0.0.1:9/v1/notes", **config})
        home.save()
        self.home = load_home(home.root)
        self.export()
        conn = keystore.connect(self.home.keys_path)
        self.patient_pw = access.patient_password(conn, "1001")
        self.general = keystore.get_text(conn, "general_password")
        self.login = keystore.get_text(conn, "login_password")
        self.admin = keystore.get_text(conn, "admin_password")
        conn.close()
        self.id = self.home.clinic_id
        from browser import serve_site
        self.server = serve_site(self.home.site_dir)
        self.url = self.server.url

    def export(self) -> None:
        export_site(self.home, today=TODAY)

    def edit(self, sql: str, *args: Any) -> None:
        """Change the clinic database and export, as the background service would."""
        conn = sqlite3.connect(self.db)
        conn.execute(sql, args)
        conn.commit()
        conn.close()
        self.export()
