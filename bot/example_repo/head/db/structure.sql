SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE SCHEMA gitlab_partitions_dynamic;

COMMENT ON SCHEMA gitlab_partitions_dynamic IS 'Schema to hold partitions managed dynamically from the application';

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION trigger_set_issue_namespace_id() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
IF NEW."namespace_id" IS NULL THEN
  SELECT "project_namespace_id" INTO NEW."namespace_id" FROM "projects" WHERE "projects"."id" = NEW."project_id";
END IF;
RETURN NEW;
END
$$;

CREATE FUNCTION create_ci_builds_partition(partition bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
EXECUTE format('CREATE TABLE IF NOT EXISTS gitlab_partitions_dynamic.ci_builds_%s PARTITION OF p_ci_builds FOR VALUES IN (%L)', partition, partition);
END
$$;

CREATE TABLE organizations (
    id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    path text NOT NULL,
    CONSTRAINT check_0b4296b5ea CHECK ((char_length(path) <= 255)),
    CONSTRAINT check_d130d769e0 CHECK ((char_length(name) <= 255))
);

CREATE SEQUENCE organizations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE organizations_id_seq OWNED BY organizations.id;

CREATE TABLE namespaces (
    id bigint NOT NULL,
    name character varying NOT NULL,
    path character varying NOT NULL,
    owner_id bigint,
    type character varying DEFAULT 'User'::character varying NOT NULL,
    parent_id bigint,
    organization_id bigint NOT NULL,
    traversal_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL
);

CREATE SEQUENCE namespaces_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE namespaces_id_seq OWNED BY namespaces.id;

CREATE TABLE projects (
    id bigint NOT NULL,
    name character varying,
    path character varying,
    description text,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    creator_id bigint,
    namespace_id bigint NOT NULL,
    project_namespace_id bigint,
    organization_id bigint,
    visibility integer DEFAULT 0 NOT NULL,
    archived boolean DEFAULT false NOT NULL
);

CREATE SEQUENCE projects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE projects_id_seq OWNED BY projects.id;

CREATE TABLE users (
    id bigint NOT NULL,
    email character varying DEFAULT ''::character varying NOT NULL,
    username character varying,
    name character varying,
    created_at timestamp without time zone
);

CREATE SEQUENCE users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE users_id_seq OWNED BY users.id;

CREATE TABLE issues (
    id bigint NOT NULL,
    title text,
    author_id bigint,
    project_id bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    description text,
    iid integer,
    namespace_id bigint,
    confidential boolean DEFAULT false NOT NULL
);

CREATE SEQUENCE issues_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE issues_id_seq OWNED BY issues.id;

CREATE TABLE issue_user_mentions (
    id bigint NOT NULL,
    issue_id bigint NOT NULL,
    note_id bigint,
    mentioned_users_ids bigint[],
    mentioned_projects_ids bigint[]
);

CREATE SEQUENCE issue_user_mentions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE issue_user_mentions_id_seq OWNED BY issue_user_mentions.id;

CREATE TABLE p_ci_builds (
    id bigint NOT NULL,
    partition_id bigint NOT NULL,
    project_id bigint NOT NULL,
    status character varying,
    name character varying,
    created_at timestamp without time zone
)
PARTITION BY LIST (partition_id);

CREATE TABLE ci_builds (
    id bigint NOT NULL,
    partition_id bigint NOT NULL,
    project_id bigint NOT NULL,
    status character varying,
    name character varying,
    created_at timestamp without time zone
);

CREATE TABLE ci_builds_101 (
    id bigint NOT NULL,
    partition_id bigint NOT NULL,
    project_id bigint NOT NULL,
    status character varying,
    name character varying,
    created_at timestamp without time zone
);

ALTER TABLE ONLY p_ci_builds ATTACH PARTITION ci_builds FOR VALUES IN ('100');

ALTER TABLE ONLY p_ci_builds ATTACH PARTITION ci_builds_101 FOR VALUES IN ('101');

ALTER TABLE ONLY organizations ALTER COLUMN id SET DEFAULT nextval('organizations_id_seq'::regclass);

ALTER TABLE ONLY namespaces ALTER COLUMN id SET DEFAULT nextval('namespaces_id_seq'::regclass);

ALTER TABLE ONLY projects ALTER COLUMN id SET DEFAULT nextval('projects_id_seq'::regclass);

ALTER TABLE ONLY users ALTER COLUMN id SET DEFAULT nextval('users_id_seq'::regclass);

ALTER TABLE ONLY issues ALTER COLUMN id SET DEFAULT nextval('issues_id_seq'::regclass);

ALTER TABLE ONLY issue_user_mentions ALTER COLUMN id SET DEFAULT nextval('issue_user_mentions_id_seq'::regclass);

ALTER TABLE ONLY organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY namespaces
    ADD CONSTRAINT namespaces_pkey PRIMARY KEY (id);

ALTER TABLE ONLY projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (id);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE issues
    ADD CONSTRAINT check_issues_namespace_id_not_null CHECK ((namespace_id IS NOT NULL)) NOT VALID;

ALTER TABLE ONLY issues
    ADD CONSTRAINT issues_pkey PRIMARY KEY (id);

ALTER TABLE ONLY issue_user_mentions
    ADD CONSTRAINT issue_user_mentions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY p_ci_builds
    ADD CONSTRAINT p_ci_builds_pkey PRIMARY KEY (id, partition_id);

ALTER TABLE ONLY ci_builds
    ADD CONSTRAINT ci_builds_pkey PRIMARY KEY (id, partition_id);

ALTER TABLE ONLY ci_builds_101
    ADD CONSTRAINT ci_builds_101_pkey PRIMARY KEY (id, partition_id);

CREATE UNIQUE INDEX index_organizations_on_unique_path ON organizations USING btree (path);

CREATE INDEX index_namespaces_on_parent_id_and_id ON namespaces USING btree (parent_id, id);

CREATE UNIQUE INDEX index_namespaces_name_parent_id_type ON namespaces USING btree (name, parent_id, type);

CREATE INDEX index_projects_on_namespace_id_and_id ON projects USING btree (namespace_id, id);

CREATE UNIQUE INDEX index_users_on_email ON users USING btree (email);

CREATE UNIQUE INDEX index_users_on_username ON users USING btree (username);

CREATE INDEX index_issues_on_project_id_and_iid ON issues USING btree (project_id, iid);

CREATE UNIQUE INDEX index_issue_user_mentions_on_note_id ON issue_user_mentions USING btree (note_id);

CREATE UNIQUE INDEX index_projects_on_path ON projects USING btree (path);

CREATE INDEX index_p_ci_builds_on_project_id ON ONLY p_ci_builds USING btree (project_id);

CREATE INDEX index_ci_builds_on_project_id ON ci_builds USING btree (project_id);

CREATE INDEX index_ci_builds_101_on_project_id ON ci_builds_101 USING btree (project_id);

ALTER INDEX index_p_ci_builds_on_project_id ATTACH PARTITION index_ci_builds_on_project_id;

ALTER INDEX index_p_ci_builds_on_project_id ATTACH PARTITION index_ci_builds_101_on_project_id;

CREATE TRIGGER trigger_issues_namespace_id BEFORE INSERT OR UPDATE ON issues FOR EACH ROW EXECUTE FUNCTION trigger_set_issue_namespace_id();

ALTER TABLE ONLY namespaces
    ADD CONSTRAINT fk_namespaces_organization_id FOREIGN KEY (organization_id) REFERENCES organizations(id);

ALTER TABLE ONLY projects
    ADD CONSTRAINT fk_projects_namespace_id FOREIGN KEY (namespace_id) REFERENCES namespaces(id) ON DELETE RESTRICT;

ALTER TABLE ONLY issues
    ADD CONSTRAINT fk_issues_project_id FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE;

ALTER TABLE ONLY issues
    ADD CONSTRAINT fk_issues_author_id FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE SET NULL;

ALTER TABLE ONLY issue_user_mentions
    ADD CONSTRAINT fk_issue_user_mentions_issue_id FOREIGN KEY (issue_id) REFERENCES issues(id) ON DELETE CASCADE;
