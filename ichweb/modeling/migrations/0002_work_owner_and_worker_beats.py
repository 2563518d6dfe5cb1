from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("modeling", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="inferencejob",
            name="owner",
            field=models.CharField(
                blank=True,
                help_text="Celery worker (node name) running the current attempt.",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="trainingrun",
            name="owner",
            field=models.CharField(
                blank=True,
                help_text="Celery worker (node name) running the current attempt.",
                max_length=255,
            ),
        ),
        migrations.CreateModel(
            name="WorkerBeat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hostname", models.CharField(max_length=255, unique=True)),
                ("pid", models.PositiveIntegerField(default=0)),
                ("started_at", models.DateTimeField()),
                ("seen_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "ordering": ["hostname"],
            },
        ),
    ]
