"""The floor for bench_scrum.py: the task list's JSON from one SQL query, psycopg and orjson.

No framework: a bare WSGI callable, served by the same gunicorn as the API (``--pythonpath
bench``), answers GET /api/tasks/?sprint=N&page_size=S[&page=P] with the body the scrum API
writes for it (count, next, previous, and each task with its status label and links), from one
query on one connection per worker (autocommit) and orjson. It does no authentication, sends
no Scrum-Versions header, checks nothing beyond what the query needs (a bad parameter is a
500): the least a server must do to send those rows, which no Django view can show.
"""

import os
from urllib.parse import parse_qs, urlencode

import orjson
import psycopg

STATUS_LABELS = {1: "Not Started", 2: "In Progress", 3: "Testing", 4: "Done"}
MAX_PAGE_SIZE = 500  # as the API's pagination
# the page and the sprint's total in one query: the total by an index scan rather than a
# window over every row of the sprint, the assignees joined to the page's rows only (in a
# sprint of 10,000 tasks a third of the time of joining first)
QUERY = """
SELECT t.id, t.name, t.description, t.sprint_id, t.status, t."order", u.username,
       t.started, t.due, t.completed,
       (SELECT count(*) FROM board_task c WHERE c.sprint_id = %(sprint)s)
FROM (
    SELECT * FROM board_task WHERE sprint_id = %(sprint)s
    ORDER BY "order", id LIMIT %(limit)s OFFSET %(offset)s
) t LEFT JOIN auth_user u ON u.id = t.assigned_id
ORDER BY t."order", t.id
"""

connection = None  # this worker's, opened on its first request (after gunicorn's fork)


def cursor():
    global connection
    if connection is None or connection.closed:
        connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return connection.cursor()


def page_link(base, query, page):
    """The API's link to another page: its query with `page` set (page 1: removed), the
    parameters sorted, as DRF's replace_query_param and remove_query_param write it."""
    params = {key: values for key, values in query.items() if key != "page"}
    if page > 1:
        params["page"] = [str(page)]
    return f"{base}?{urlencode(sorted(params.items()), doseq=True)}"


def body(environ):
    """The list's JSON for a request's query string."""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    sprint = int(query["sprint"][0])
    size = min(int(query.get("page_size", ["25"])[0]), MAX_PAGE_SIZE)
    page = int(query.get("page", ["1"])[0])
    with cursor() as rows:
        rows.execute(QUERY, {"sprint": sprint, "limit": size, "offset": (page - 1) * size})
        found = rows.fetchall()
    root = f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}/api/"
    base = root + "tasks/"
    count = found[0][10] if found else 0  # (no rows: the API also checks that the sprint exists)
    results = [
        {
            "id": pk,
            "name": name,
            "description": description,
            "sprint": sprint_id,
            "status": status,
            "status_display": STATUS_LABELS[status],
            "order": order,
            "assigned": assigned,
            "started": started,
            "due": due,
            "completed": completed,
            "links": {
                "self": f"{root}tasks/{pk}/",
                "sprint": f"{root}sprints/{sprint_id}/" if sprint_id else None,
                "assigned": f"{root}users/{assigned}/" if assigned else None,
            },
        }
        for (
            pk,
            name,
            description,
            sprint_id,
            status,
            order,
            assigned,
            started,
            due,
            completed,
            _,
        ) in found
    ]
    return orjson.dumps(
        {
            "count": count,
            "next": page_link(base, query, page + 1) if page * size < count else None,
            "previous": page_link(base, query, page - 1) if page > 1 else None,
            "results": results,
        }
    )


def application(environ, start_response):
    content = body(environ)
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
    )
    return [content]
