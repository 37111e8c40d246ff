//! The EC2 side of the demo world: `app-server` and `worker`, each launched running with its
//! EBS volumes, on both sides of the pair.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, InstanceType, ResourceType, Tag, TagSpecification, VolumeType,
};

use super::{INSTANCE_NAME, Scope, SeedError, SeedReport, Side, WORKER_INSTANCE};

/// Instance states that count as "the instance exists"; terminated ones are history.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];
/// Every instance gets an 8 GiB gp3 root volume at its AMI's root device.
const ROOT_GIB: i32 = 8;
/// A default AMI moto ships in every region (the first it lists).
const KNOWN_AMI_NAME: &str = "Windows_Server-2016-English-Nano-Base-2017.10.13";

/// The kind of an EBS volume; failback must recreate each one with the same kind.
#[derive(Debug, Clone, Copy)]
enum Ebs {
    Gp3,
    /// Provisioned IOPS, which the copy must carry over.
    Io1 {
        iops: i32,
    },
}

/// One data volume of a demo instance.
#[derive(Debug, Clone, Copy)]
struct Disk {
    device: &'static str,
    size_gib: i32,
    ebs: Ebs,
}

const APP_SERVER_DISKS: [Disk; 1] = [Disk { device: "/dev/sdf", size_gib: 20, ebs: Ebs::Gp3 }];
/// Two data volumes of different kinds, so a failback that copies only one volume, or loses the
/// type or IOPS on the way, shows up.
const WORKER_DISKS: [Disk; 2] = [
    Disk { device: "/dev/sdf", size_gib: 30, ebs: Ebs::Gp3 },
    Disk { device: "/dev/sdg", size_gib: 10, ebs: Ebs::Io1 { iops: 100 } },
];

/// Ensures both demo instances on one side.
/// `scale` multiplies every data volume's size (a drill's bigger world: copies take longer).
pub(super) async fn ensure_instances(
    ec2: &Client,
    side: Side,
    scale: i32,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let scaled = |disks: &[Disk]| -> Vec<Disk> {
        disks.iter().map(|d| Disk { size_gib: (d.size_gib * scale).min(16_384), ..*d }).collect()
    };
    ensure_instance(ec2, side, INSTANCE_NAME, &scaled(&APP_SERVER_DISKS), report).await?;
    ensure_instance(ec2, side, WORKER_INSTANCE, &scaled(&WORKER_DISKS), report).await
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The `env` tag for one kind of resource, given at creation.
fn env_tags(side: Side, resource: ResourceType) -> TagSpecification {
    TagSpecification::builder().resource_type(resource).tags(tag("env", side.env())).build()
}

/// Ensures the instance tagged `Name` = `name` exists (launched running) with a root volume and
/// `disks`. An existing instance is left as it is, whatever its volumes look like now: an earlier
/// rehearsal may have swapped them.
async fn ensure_instance(
    ec2: &Client,
    side: Side,
    name: &str,
    disks: &[Disk],
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "ec2", region };
    let mut live = Filter::builder().name("instance-state-name");
    for state in LIVE_STATES {
        live = live.values(state);
    }
    let by_name = Filter::builder().name("tag:Name").values(name).build();
    let found = ec2.describe_instances().filters(by_name).filters(live.build()).send().await;
    let found = found.map_err(scope.fail("DescribeInstances", name))?;
    let mut instances = found.reservations().iter().flat_map(|r| r.instances());
    if let Some(id) = instances.find_map(|i| i.instance_id()) {
        report.found(format!("{region} ec2 instance {name} ({id})"));
        return Ok(());
    }

    // moto ships default AMIs in every region; any of them will do for a demo server. Listing
    // them all takes moto about a second, so one it ships everywhere (root `/dev/sda1`) is
    // asked for by name first.
    let known = Filter::builder().name("name").values(KNOWN_AMI_NAME).build();
    let mut images = ec2.describe_images().filters(known).send().await;
    if images.as_ref().is_ok_and(|i| i.images().is_empty()) {
        images = ec2.describe_images().send().await;
    }
    let images = images.map_err(scope.fail("DescribeImages", name))?;
    let image = images.images().iter().find_map(|image| {
        let root = image.root_device_name().unwrap_or("/dev/sda1");
        image.image_id().map(|id| (id, root))
    });
    let Some((image_id, root_device)) = image else {
        return Err(scope.error("DescribeImages", name, "no AMI available"));
    };

    // moto only creates a root volume when no mappings are given, so the root is listed explicitly.
    // Provisioned-IOPS volumes cannot be launched here: moto's RunInstances drops the Iops of a
    // mapping and then refuses io1 for lacking it, so they are created and attached afterwards.
    let gp3 = |device: &str, size_gib: i32| {
        let volume = EbsBlockDevice::builder().volume_size(size_gib).volume_type(VolumeType::Gp3);
        let volume = volume.delete_on_termination(true).build();
        BlockDeviceMapping::builder().device_name(device).ebs(volume).build()
    };
    let instance_tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(tag("Name", name))
        .tags(tag("env", side.env()))
        .build();
    let mut launch = ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .block_device_mappings(gp3(root_device, ROOT_GIB))
        .tag_specifications(instance_tags)
        .tag_specifications(env_tags(side, ResourceType::Volume));
    for disk in disks.iter().filter(|d| matches!(d.ebs, Ebs::Gp3)) {
        launch = launch.block_device_mappings(gp3(disk.device, disk.size_gib));
    }
    let launched = launch.send().await.map_err(scope.fail("RunInstances", name))?;
    let instance = launched.instances().first();
    let Some(id) = instance.and_then(|i| i.instance_id()) else {
        return Err(scope.error("RunInstances", name, "response carries no instance id"));
    };
    let zone = instance.and_then(|i| i.placement()).and_then(|p| p.availability_zone());

    for disk in disks {
        let Ebs::Io1 { iops } = disk.ebs else { continue };
        let target = format!("{name}:{}", disk.device);
        let Some(zone) = zone else {
            return Err(scope.error("RunInstances", name, "response carries no availability zone"));
        };
        let created = ec2
            .create_volume()
            .availability_zone(zone)
            .size(disk.size_gib)
            .volume_type(VolumeType::Io1)
            .iops(iops)
            .tag_specifications(env_tags(side, ResourceType::Volume))
            .send()
            .await
            .map_err(scope.fail("CreateVolume", &target))?;
        let Some(volume_id) = created.volume_id() else {
            return Err(scope.error("CreateVolume", &target, "response carries no volume id"));
        };
        // moto makes volumes `available` at once; on AWS this would wait for that state first.
        ec2.attach_volume()
            .volume_id(volume_id)
            .instance_id(id)
            .device(disk.device)
            .send()
            .await
            .map_err(scope.fail("AttachVolume", &target))?;
    }

    tag_volumes(ec2, scope, name, id).await?;
    report.made(format!("{region} ec2 instance {name} ({id})"));
    Ok(())
}

/// Tags each volume of instance `id` with `Name` = `<name>:<device>`. Tag specifications at launch
/// give every volume the same tags, so the per-device names are added afterwards, read from the
/// instance's block device mappings (which also list the volumes attached after launch).
async fn tag_volumes(ec2: &Client, scope: Scope, name: &str, id: &str) -> Result<(), SeedError> {
    let described = ec2.describe_instances().instance_ids(id).send().await;
    let described = described.map_err(scope.fail("DescribeInstances", name))?;
    let instances = described.reservations().iter().flat_map(|r| r.instances());
    for mapping in instances.flat_map(|i| i.block_device_mappings()) {
        let (Some(device), Some(volume_id)) = (mapping.device_name(), mapping.ebs().and_then(|e| e.volume_id())) else {
            continue;
        };
        let volume_name = format!("{name}:{device}");
        ec2.create_tags()
            .resources(volume_id)
            .tags(tag("Name", &volume_name))
            .send()
            .await
            .map_err(scope.fail("CreateTags", &volume_name))?;
    }
    Ok(())
}

/// The hard variant's Auto Scaling group `app-server` in primary, with the primary `app-server`
/// instance attached (`InService`) and the group at its minimum (1): a failback that stops it
/// without holding the group loses it, and Standby is refused there.
pub(super) async fn ensure_auto_scaling(
    config: &aws_config::SdkConfig,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let region = Side::Primary.region();
    let scope = Scope { service: "autoscaling", region };
    let ec2 = Client::new(config);
    let asg = aws_sdk_autoscaling::Client::new(config);
    let by_name = Filter::builder().name("tag:Name").values(INSTANCE_NAME).build();
    let running = Filter::builder().name("instance-state-name").values("running").build();
    let found = ec2.describe_instances().filters(by_name).filters(running).send().await;
    let found = found.map_err(Scope { service: "ec2", region }.fail("DescribeInstances", INSTANCE_NAME))?;
    let Some(inst) = found.reservations().iter().flat_map(|r| r.instances()).next().cloned() else {
        return Err(scope.error("AttachInstances", INSTANCE_NAME, "no running app-server to put in the group"));
    };
    let id = inst.instance_id().unwrap_or_default();
    let member = asg.describe_auto_scaling_instances().instance_ids(id).send().await;
    if !member.map_err(scope.fail("DescribeAutoScalingInstances", id))?.auto_scaling_instances().is_empty() {
        report.found(format!("{region} auto scaling group {INSTANCE_NAME} with {id}"));
        return Ok(());
    }
    let zone = inst.placement().and_then(|p| p.availability_zone()).unwrap_or("us-east-1a");
    let image = inst.image_id().unwrap_or_default();
    let groups = asg.describe_auto_scaling_groups().auto_scaling_group_names(INSTANCE_NAME).send().await;
    if groups.map_err(scope.fail("DescribeAutoScalingGroups", INSTANCE_NAME))?.auto_scaling_groups().is_empty() {
        asg.create_launch_configuration()
            .launch_configuration_name(INSTANCE_NAME)
            .image_id(image)
            .instance_type("t3.micro")
            .send()
            .await
            .map_err(scope.fail("CreateLaunchConfiguration", INSTANCE_NAME))?;
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(INSTANCE_NAME)
            .launch_configuration_name(INSTANCE_NAME)
            .min_size(0)
            .max_size(2)
            .desired_capacity(0)
            .availability_zones(zone)
            .send()
            .await
            .map_err(scope.fail("CreateAutoScalingGroup", INSTANCE_NAME))?;
    }
    asg.attach_instances()
        .auto_scaling_group_name(INSTANCE_NAME)
        .instance_ids(id)
        .send()
        .await
        .map_err(scope.fail("AttachInstances", id))?;
    // At its minimum, as a single server's group usually is: AWS allows it no Standby.
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(INSTANCE_NAME)
        .min_size(1)
        .send()
        .await
        .map_err(scope.fail("UpdateAutoScalingGroup", INSTANCE_NAME))?;
    report.made(format!("{region} auto scaling group {INSTANCE_NAME} (min 1) with {id} in service"));
    Ok(())
}
