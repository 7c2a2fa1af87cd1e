"""Audience questions in a live room, ranked by votes (rooms/services/questions.py)."""

from django.conf import settings
from django.db import models

from rooms.protocol import QUESTION_MAX_LENGTH


class Question(models.Model):
    """A question asked in a room. Answered ones stay listed, below the open ones; removed
    ones (by a moderator, by the asker, or with the asker's ban) are gone for everyone."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="questions")
    asker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=QUESTION_MAX_LENGTH)
    votes = models.PositiveIntegerField(default=0)  # kept equal to the QuestionVote rows
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-votes", "created_at"]
        indexes = [models.Index(fields=["room", "removed_at"])]

    def __str__(self) -> str:
        return self.text[:60]


class QuestionVote(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="vote_rows")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "member"], name="one_vote_per_member")
        ]

    def __str__(self) -> str:
        return f"vote {self.member_id} on {self.question_id}"
