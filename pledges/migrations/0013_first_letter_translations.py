"""The first letter ships with Spanish and French translations (French, so that the third language has
the letter too), in the Markdown form 0008 gave the English: the four priorities as headed sections.
They are added to the first version only while its English is as the migrations wrote it: a letter
staff have since edited is a text these do not translate."""

import importlib
import re

from django.db import migrations

letter_0008 = importlib.import_module("pledges.migrations.0008_letter_summary_about_page")
ORIGINAL_TITLE = "An open letter on AI and creative work"

TRANSLATIONS = {
    "es": {
        "title": "Carta abierta sobre la IA y el trabajo creativo",
        "summary": (
            "Pedimos a legisladores, estudios, plataformas y empresas de IA que se comprometan con reglas "
            "exigibles sobre cómo se entrena y se usa la IA en el trabajo creativo: consentimiento y pago "
            "por nuestro trabajo, protección de nuestros empleos, salvaguardas contra los deepfakes y "
            "respeto por la autoría humana."
        ),
        "body": """Somos actrices y actores, guionistas, directoras y directores, productoras y productores, ejecutivos; somos los equipos que iluminan, filman, montan, musicalizan y construyen la obra; somos youtubers, podcasters, autores de newsletters y tecnólogos. Muchos pertenecemos a SAG-AFTRA, al WGA, al DGA, al PGA y a IATSE. Vivimos de crear, y no estamos en contra de las herramientas nuevas. Estamos en contra de herramientas construidas tomando nuestro trabajo sin pedir permiso y usadas para reemplazarnos sin ningún plan.

La inteligencia artificial ya se entrena con nuestras interpretaciones, guiones, imágenes, voces y vídeos, y ya se usa para producir obras que compiten con las nuestras. Las reglas que deciden cómo ocurre eso se están escribiendo ahora, a menudo sin nosotros. Pedimos a legisladores, estudios, plataformas y empresas de IA que se comprometan con reglas exigibles basadas en cuatro prioridades.

1. Transparencia, consentimiento y remuneración por los datos y los contenidos. Quienes crean deben poder saber cuándo se usa su obra para entrenar o alimentar un sistema de IA, poder negarse y recibir un pago cuando aceptan. Los datos de entrenamiento deben divulgarse de forma que creadores y tribunales puedan verificarlos.

2. Protección del empleo y planes de transición. Las empresas que introduzcan la IA en la producción creativa deben negociarla con las personas cuyo trabajo transforma, proteger los empleos y los oficios que sostienen nuestras industrias y financiar planes de transición reales, no comunicados de prensa, allí donde el trabajo sí cambie.

3. Salvaguardas contra el mal uso y los deepfakes. Nadie debería ver copiados su rostro, su voz o su imagen sin su consentimiento, esté vivo o muerto. Los contenidos sintéticos deben ir etiquetados, las plataformas deben actuar con rapidez ante las suplantaciones y quienes sufran daños por deepfakes deben contar con una reparación que funcione.

4. Preservar la autoría humana. El público merece saber qué ha hecho una persona. Los créditos, los derechos de autor y los premios deben mantener en su centro a un autor humano, y el material generado por IA no debe hacerse pasar por obra humana.

No son principios abstractos. Son las condiciones para que el trabajo creativo pueda seguir siendo un medio de vida. Invitamos a todas las personas que hacen trabajo creativo a sumar su nombre.""",
    },
    "fr": {
        "title": "Lettre ouverte sur l’IA et le travail créatif",
        "summary": (
            "Nous demandons aux législateurs, aux studios, aux plateformes et aux entreprises d’IA de "
            "s’engager sur des règles contraignantes encadrant l’entraînement et l’usage de l’IA dans le "
            "travail créatif\u00a0: consentement et rémunération pour notre travail, protection de nos "
            "emplois, garde-fous contre les deepfakes et respect de l’auteur humain."
        ),
        "body": """Nous sommes actrices et acteurs, scénaristes, réalisatrices et réalisateurs, productrices et producteurs, dirigeants ; nous sommes les équipes qui éclairent, filment, montent, composent et construisent les œuvres ; nous sommes youtubeurs, podcasteurs, auteurs de newsletters et technologues. Beaucoup d’entre nous sont membres de SAG-AFTRA, de la WGA, de la DGA, de la PGA et d’IATSE. Nous vivons de ce que nous créons, et nous ne sommes pas contre les nouveaux outils. Nous sommes contre des outils construits en prenant notre travail sans le demander, et utilisés pour nous remplacer sans aucun plan.

L’intelligence artificielle est déjà entraînée sur nos interprétations, nos scénarios, nos images, nos voix et nos vidéos, et déjà utilisée pour produire des œuvres qui concurrencent les nôtres. Les règles qui encadrent tout cela s’écrivent maintenant, souvent sans nous. Nous demandons aux législateurs, aux studios, aux plateformes et aux entreprises d’IA de s’engager sur des règles contraignantes fondées sur quatre priorités.

1. Transparence, consentement et rémunération pour les données et les contenus. Les créateurs doivent pouvoir savoir quand leur œuvre sert à entraîner ou à alimenter un système d’IA, pouvoir refuser, et être payés lorsqu’ils acceptent. Les données d’entraînement doivent être publiées sous une forme que créateurs et tribunaux peuvent vérifier.

2. Protection de l’emploi et plans de transition. Les entreprises qui introduisent l’IA dans la production créative doivent la négocier avec les personnes dont elle transforme le travail, protéger les emplois et les métiers qui font tenir nos industries, et financer de vrais plans de transition, pas des communiqués de presse, là où le travail change réellement.

3. Garde-fous contre les abus et les deepfakes. Le visage, la voix ou l’apparence de quiconque ne doivent pas être copiés sans consentement, de son vivant comme après sa mort. Les contenus synthétiques doivent être signalés, les plateformes doivent agir vite contre les usurpations d’identité, et les personnes lésées par des deepfakes doivent disposer d’un recours efficace.

4. Préserver l’auteur humain. Le public a le droit de savoir ce qu’une personne a créé. Les génériques, le droit d’auteur et les récompenses doivent garder un auteur humain en leur centre, et les contenus générés par l’IA ne doivent pas être présentés comme une œuvre humaine.

Ce ne sont pas des principes abstraits. Ce sont les conditions pour que le travail créatif reste un métier dont on peut vivre. Nous invitons toutes celles et tous ceux qui font un travail créatif à ajouter leur nom.""",
    },
}


# The closing paragraph, after the rule 0008 puts before the English one.
CLOSING = {"es": "No son principios abstractos.", "fr": "Ce ne sont pas des principes abstraits."}


def as_markdown(language: str, body: str) -> str:
    """As 0008's with_headings(): "1. Priority. Text" becomes "## 1. Priority" and its paragraph."""
    body = re.sub(r"^(\d)\. ([^.]+)\. ", r"## \1. \2\n\n", body, flags=re.M)
    return body.replace(f"\n\n{CLOSING[language]}", f"\n\n---\n\n{CLOSING[language]}")


def add(apps, schema_editor):
    LetterVersion = apps.get_model("pledges", "LetterVersion")
    LetterTranslation = apps.get_model("pledges", "LetterTranslation")
    first = LetterVersion.objects.order_by("created_at", "pk").first()
    if first is None or (first.title, first.body) != (ORIGINAL_TITLE, letter_0008.NEW_BODY):
        return
    for language, text in TRANSLATIONS.items():
        LetterTranslation.objects.get_or_create(
            letter_version=first,
            language=language,
            defaults={**text, "body": as_markdown(language, text["body"])},
        )


def remove(apps, schema_editor):
    LetterTranslation = apps.get_model("pledges", "LetterTranslation")
    for language, text in TRANSLATIONS.items():
        LetterTranslation.objects.filter(language=language, title=text["title"]).delete()


class Migration(migrations.Migration):
    dependencies = [("pledges", "0012_letter_translations_signature_language")]

    operations = [migrations.RunPython(add, remove)]
