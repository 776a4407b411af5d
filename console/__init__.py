"""The clinic console: ``chartseal console``, the manual's "Server" window as a local web page.

A Flask app served by waitress on 127.0.0.1 only; a thin face over the same library calls
as the command line. Conventions every section follows:

Layout
  ``app.py``       ``create_app(home, token, port=None) -> Flask``: registers every section's
                   blueprint (``bp``) and the security hooks. The port, when not known at
                   creation (port 0), is set later in ``app.config["CONSOLE_PORT"]``.
  ``security.py``  done once for every blueprint, in before/after_request hooks:
                   * the token in the URL (``?token=...``) is traded for an HttpOnly,
                     SameSite=Strict cookie and the address bar is cleaned by a redirect;
                     every other request needs that cookie;
                   * the Host header must be ``127.0.0.1:<port>`` or ``localhost:<port>``;
                   * every POST carries the CSRF token, as form field ``csrf`` or header
                     ``X-CSRF-Token`` (templates: ``{{ csrf_token() }}``);
                   * strict CSP (no inline script or style: JS lives in ``static/*.js``), no
                     CORS, ``Cache-Control: no-store`` on every response;
                   * any failure is a 403 and changes nothing.
  ``web.py``       helpers: ``current_home()`` (loaded fresh per request, so CLI changes
                   show), ``keys()`` (the keystore, closed after the request), ``t(key, **v)``
                   (the string ``console.<key>`` of ``site_templates/i18n/<lang>.json``,
                   ``str.format``-ed with ``v``; also a template global), ``attempt(errors,
                   field, fn, *args)`` which runs one core call and turns a ChartsealError
                   into ``errors[field] = FormError(message, hint, kind)`` for the template to
                   show next to its field (``{{ field_error(errors, "name") }}``, id
                   ``<field>-error`` for ``aria-describedby``), ``page(template, section,
                   status=200, **ctx)`` which renders with what base.html needs, ``done(path,
                   key, name)`` (redirect after a change, showing the string ``ok.<key>``),
                   ``local_path()`` and ``flag()`` for form values.
  ``templates/base.html``  side menu in the manual's order, blocks ``title`` and ``content``,
                   the unread-notes badge, the language switch (en/ar, RTL for ar).

Sections, one module each, each with ``bp = Blueprint(<name>, __name__)`` and
``CLI_COMMANDS = (...)`` naming the CLI commands it covers ("accounts create", "share",
...). ``tests/test_console_parity.py`` fails when a CLI command is in no section's tuple and
not on its commented exception list. Sections: status, passwords, patients, accounts,
sharing, databases, publishing (its own engineer's files: ``publishing.py``,
``templates/publishing*.html``, ``static/publishing*.js``), notes.

Rules: a section calls the library functions the CLI calls (exporter.access, exporter.home,
exporter.notes_store, publisher.*); logic that only one face would have goes into the
library first. Keystore changes run inside the keystore's own transactions (SQLite locks),
config.toml changes through ``exporter.databases`` (re-read and written under a lock); both
are what the CLI uses, so two consoles and the CLI can work on one home at once. A password
shown once is rendered straight from the POST (never put in a URL), in ``shown.html``.
"""
