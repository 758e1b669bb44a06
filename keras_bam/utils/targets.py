"""The keys of a student's targets: what the multi-task stream yields and the
model's loss, the batch padding and the micro-batched step read.

Example:
```python
from keras_bam.utils.targets import LABEL, TASK_ID, TEACHER

y = {TASK_ID: task_ids, LABEL: labels, TEACHER: teacher_outputs}
```
"""

# The row's task (its index in the model's tasks); -1 marks a row with no
# example (an empty packing slot, a row padding a batch), which has no loss.
TASK_ID = "task_id"
# The gold label (a class index, or a regression target).
LABEL = "label"
# The teacher's outputs (logits, or a regression output in column 0).
TEACHER = "teacher"
