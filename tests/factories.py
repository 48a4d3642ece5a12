from __future__ import annotations

import factory

from crm.models import Organization, Profile, Record, User
from crm.modules import module_by_name


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        profile_name = "Administrator"

    organization = factory.SubFactory(OrganizationFactory)
    full_name = factory.Sequence(lambda n: f"User Number{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    status = User.Status.ACTIVE
    profile = factory.LazyAttribute(
        lambda o: Profile.objects.get(organization=o.organization, name=o.profile_name)
    )


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Record

    class Params:
        module_name = "Contacts"

    organization = factory.SubFactory(OrganizationFactory)
    module_id = factory.LazyAttribute(lambda o: module_by_name(o.module_name).id)
    owner = factory.SubFactory(UserFactory, organization=factory.SelfAttribute("..organization"))
    name = factory.Sequence(lambda n: f"Record {n}")
