"""{% load webdesign %}: the book's pages load it for {% lorem %}, which Django now has built in.

An empty template library under that name (TEMPLATES OPTIONS "libraries" in prototypes.py), so
those pages render unchanged.
"""

from django.template import Library

register = Library()
