"""``/todos``: each user's own to-do items.

Every query is filtered by the owner taken from the verified token, so another user's
item is not "forbidden" but simply not there: the same 404 as an id that never existed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlmodel import Session, col, func, select

from .dependencies import MAX_ID, CurrentUser, SessionDep
from .models import Todo, User, utcnow
from .schemas import TodoCreate, TodoOut, TodoPage, TodoUpdate

__all__ = ["router"]

router = APIRouter(prefix="/todos", tags=["todos"])

_NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No such to-do."}}


@router.post("", status_code=status.HTTP_201_CREATED)
def create_todo(
    body: TodoCreate, user: CurrentUser, session: SessionDep, response: Response
) -> TodoOut:
    todo = Todo(owner_id=_id_of(user), title=body.title, done=body.done)
    session.add(todo)
    session.commit()
    session.refresh(todo)
    response.headers["Location"] = f"/todos/{todo.id}"
    return TodoOut.model_validate(todo)


@router.get("")
def list_todos(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")] = 0,
) -> TodoPage:
    """The current user's to-dos, oldest first."""
    mine = select(Todo).where(Todo.owner_id == _id_of(user))
    total = session.exec(select(func.count()).select_from(mine.subquery())).one()
    rows = session.exec(mine.order_by(col(Todo.id)).offset(offset).limit(limit)).all()
    return TodoPage(
        items=[TodoOut.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{todo_id}", responses=_NOT_FOUND)
def get_todo(todo_id: int, user: CurrentUser, session: SessionDep) -> TodoOut:
    return TodoOut.model_validate(_owned(session, user, todo_id))


@router.patch("/{todo_id}", responses=_NOT_FOUND)
def update_todo(todo_id: int, body: TodoUpdate, user: CurrentUser, session: SessionDep) -> TodoOut:
    """Change the fields sent; the others keep their values."""
    todo = _owned(session, user, todo_id)
    changes = body.model_dump(exclude_unset=True)
    if changes:
        for name, value in changes.items():
            setattr(todo, name, value)
        todo.updated_at = utcnow()
        session.add(todo)
        session.commit()
        session.refresh(todo)
    return TodoOut.model_validate(todo)


@router.delete("/{todo_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_todo(todo_id: int, user: CurrentUser, session: SessionDep) -> None:
    session.delete(_owned(session, user, todo_id))
    session.commit()


def _owned(session: Session, user: User, todo_id: int) -> Todo:
    """The user's to-do with this id; any other id, theirs or nobody's, is a 404."""
    todo = None
    if 1 <= todo_id <= MAX_ID:
        todo = session.exec(
            select(Todo).where(Todo.id == todo_id, Todo.owner_id == _id_of(user))
        ).first()
    if todo is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "To-do not found.")
    return todo


def _id_of(user: User) -> int:
    assert user.id is not None  # a row loaded from the database always has its id
    return user.id
