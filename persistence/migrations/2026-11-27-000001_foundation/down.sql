DROP TABLE instance_bootstrap;
DROP TABLE login_throttle;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE organizations;
