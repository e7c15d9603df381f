"""Spreadsheet import engine: read a CSV/XLSX file, map its columns, dry-run, commit all or nothing.

Apps register *targets* (what a row becomes: an account, a deal …) in ``SALESOPS_IMPORT_TARGETS``;
the engine does the rest the same way for every target.
"""
